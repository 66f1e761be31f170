"""What the domain announces as it records it, so the apps above it can act without the domain importing them.

``notifications`` listens (see ``notifications/apps.py``). Each signal is sent
with ``send_robust`` inside the transaction that recorded the event: a
receiver's error is logged and never undoes or blocks the domain action, and
whatever a receiver does outside the database must wait for the commit
(``transaction.on_commit``). A receiver that writes must do so in its own
savepoint, so a failed write cannot spoil the caller's transaction.
"""

from __future__ import annotations

from django.dispatch import Signal

# ``gate_store`` appended a state change to a gate's history.
# Arguments: ``gate`` (Gate) and ``event`` (the GateEvent just created).
gate_state_changed = Signal()

# ``Batch.mark_ready`` moved a batch to ready for review.
# Arguments: ``batch`` (Batch) and ``event`` (the BatchEvent just created).
batch_marked_ready = Signal()

# A review decision was recorded on a batch (issue 10's review sessions send it where they record one).
# Arguments: ``batch`` (Batch), ``decision`` (a short word or phrase, e.g. "approved", "changes requested"),
# ``by`` (the User who decided, or None), ``key`` (str, unique per decision: the same key is only ever
# announced once) and ``note`` (str, may be empty).
review_decision_recorded = Signal()

# ``Batch.approve`` approved a batch. Arguments: ``batch`` (Batch) and ``event`` (the BatchEvent just created).
# ``metrics`` listens, and computes the batch's metrics once the approval commits.
batch_approved = Signal()
