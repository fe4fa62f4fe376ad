"""The month end: close a period, grant credits, run the settlement over the ledger and export the
licensor's statement bundle. The pure settlement math is `revshare.settlement`."""
