"""The review's section of the sign-off record, added through the record's seam."""

from __future__ import annotations

from reviews.models import Decision
from reviews.services import checklist_items_for, review_attendee_add, review_confirm, review_decide, review_open
from signoffs.audit import audit_batch, audit_csv, audit_markdown


def test_the_sign_off_record_lists_the_review_in_markdown_and_csv(ready_batch, release_manager, journey):
    sent_back = review_open(batch=ready_batch, by=release_manager)
    review_decide(session=sent_back, decision=Decision.SENT_BACK, by=release_manager, reason="Smoke | tests <missing>")
    ready_batch.mark_ready(by=release_manager)
    session = review_open(batch=ready_batch, by=release_manager)
    priya = review_attendee_add(session=session, by=release_manager, name="Priya Raman")
    for item in checklist_items_for(ready_batch):
        review_confirm(session=session, item=item, attendee=priya, note="Seen", by=release_manager)
    review_decide(session=session, decision=Decision.APPROVED, by=release_manager)

    record = audit_batch(slug=journey.plan.slug, number=1)
    markdown = audit_markdown(record)
    section = markdown.split("## Stakeholder review", 1)[1]
    assert "| Review 1 | Decision: Sent back | rita |" in section
    assert "Smoke \\| tests \\<missing\\>" in section  # escaped like every other cell
    assert "| Review 2 | Attendee: Priya Raman | rita |" in section
    assert (
        "| Review 2 | Confirmed: Sentry shows no new errors since the deploy | Priya Raman (recorded by rita) |"
        in section
    )
    assert "| Review 2 | Decision: Approved | rita |" in section
    # The batch's own history shows the send-back too.
    assert "| Sent back by the review | rita |" in markdown
    rows = [line.split(",")[0] for line in audit_csv(record).splitlines()]
    # Review 1: opened, rita, sent back. Review 2: opened, rita, Priya, 8 confirmations, approved.
    assert rows.count("review") == 3 + 12
