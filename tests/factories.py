"""Small factories for test data (factory_boy)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from batches.models import Batch, Gate, GateKind, GateState, Plan, PlannedPR
from signoffs.models import ChecklistItem

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        self.save()
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    slug = factory.Sequence(lambda n: f"plan-{n}")
    title = factory.Sequence(lambda n: f"Plan {n}")


class BatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Batch

    plan = factory.SubFactory(PlanFactory)
    number = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"Batch title {n}")
    target_pr_count = 2


class PlannedPRFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlannedPR

    batch = factory.SubFactory(BatchFactory)
    number = factory.Sequence(lambda n: n + 1)
    task = "Do the thing"


class GateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Gate

    batch = factory.SubFactory(BatchFactory)
    key = factory.Sequence(lambda n: f"gate-{n}")
    kind = GateKind.CI
    label = "pytest"
    state = GateState.PENDING


class ChecklistItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChecklistItem

    gate = factory.SubFactory(GateFactory, kind=GateKind.MANUAL)
    key = factory.Sequence(lambda n: f"item-{n}")
    text = "Check the dashboard"
