"""Who may approve the recruiting tools' gates: the dataset's admin users and key holders."""

from __future__ import annotations

from tailguard.control.gates import AnyApprover, ApproverList, Approvers
from tailguard.roles.recruiting import schema as rs
from tailguard.roles.recruiting.store import RecruitingStore


def dataset_approvers(store: RecruitingStore, keys: Approvers | None) -> Approvers:
    """The dataset's admin users and, when given, the holders of approver or admin API keys."""
    admins = [
        row["user_id"] for row in store.rows(rs.users.select().where(rs.users.c.role == "admin"))
    ]
    sources: list[Approvers] = [ApproverList(approver_ids=frozenset(admins))]
    if keys is not None:
        sources.append(keys)
    return AnyApprover(sources)
