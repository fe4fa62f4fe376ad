"""The gateway's end users on the request path: each request's `user` hashed under the host secret
(never kept as sent) and counted in the live HyperLogLog sketches, exported as gauges without a
customer label (docs/LICENSING.md, "End users")."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from revshare.accounts.end_users import end_user_hash, end_user_identity
from revshare.accounts.live_users import LiveEndUsers
from revshare.metering.meter import Admitted
from revshare.metrics import Metrics

__all__ = ["EndUsers", "end_users_of"]


@dataclass(frozen=True)
class EndUsers:
    """This gateway's end users: the key of their hashes (the host secret) and the live count."""

    secret: bytes = field(repr=False)
    live: LiveEndUsers

    def hash(self, customer: str, user: str | None) -> str:
        return end_user_hash(self.secret, customer, user)

    def observe(self, admitted: Admitted) -> None:
        """Count an admitted request's end user (its hash, else its key) in the live sketches."""
        self.live.observe(admitted.model.id, end_user_identity(admitted.end_user, admitted.key_id),
                          admitted.started_at)

    def register(self, metrics: Metrics) -> None:
        """The live estimates as gauges (by model and licence only: no customer label)."""
        metrics.observe_state("revshare_model_end_users_estimate", self.live.model_gauge)
        metrics.observe_state("revshare_licence_end_users_estimate", self.live.licence_gauge)
        metrics.observe_state("revshare_licence_users_threshold", self.live.threshold_gauge)


def end_users_of(request: Request) -> EndUsers | None:
    """The app's `EndUsers` (set at startup, beside the log service whose secret it uses)."""
    found: EndUsers | None = request.app.end_users
    return found
