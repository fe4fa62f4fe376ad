"""Usage records, rating against the price book, and admission."""
