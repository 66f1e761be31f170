"""Who a request is from, without a database query on every request.

Every request, polls included, loads its user (Django's ``get_user``) and then
asks for the user's roles: two queries, which are most of what an open page's
one-a-second poll costs. This backend keeps the user, roles included, in the
cache for ``USER_CACHE_SECONDS`` and forgets it whenever the user or their group
membership is saved through the ORM (the admin, ``createsuperuser``,
``changepassword``, the demo's setup), so a deactivated user, a new password
(which ends their other sessions) or a changed role takes effect on the next
request. Only a bulk ``QuerySet.update`` of users, which sends no signal, waits
for the expiry.

Everything else is Django's: the session's user id and backend, and the session
hash check against the (cached) password hash.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save, pre_delete
from django.dispatch import receiver

from portal.roles import user_roles


def _key(user_id: object) -> str:
    return f"gatehouse:user:{user_id}"


class CachedModelBackend(ModelBackend):
    """Django's ModelBackend, with ``get_user`` (every request) answered from the cache."""

    def get_user(self, user_id):
        seconds = settings.USER_CACHE_SECONDS
        if not seconds:
            return super().get_user(user_id)
        user = cache.get(_key(user_id))  # with Redis away a miss (portal/cache.py): the database answers
        if user is not None:
            return user
        user = super().get_user(user_id)
        if user is not None:
            user_roles(user)  # computed now, so the cached copy carries them
            cache.set(_key(user_id), user, timeout=seconds)
        return user


def _delete(user_ids: list) -> None:
    cache.delete_many([_key(user_id) for user_id in user_ids])


def forget_users(user_ids) -> None:
    """Drop the cached users now, and again when the transaction commits.

    Now: this request sees the change. At commit: a request that read the old row
    between the write and the commit, and cached it, is corrected.
    """
    user_ids = list(user_ids)
    if user_ids:
        _delete(user_ids)
        transaction.on_commit(lambda: _delete(user_ids))


@receiver(post_save, sender=User)
@receiver(pre_delete, sender=User)
def _user_changed(sender, instance: User, **kwargs) -> None:
    forget_users([instance.pk])


@receiver(m2m_changed, sender=User.groups.through)
def _groups_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if not reverse:  # user.groups.add(...), .remove(...), .clear()
        forget_users([instance.pk])
    elif pk_set is not None:  # group.user_set.add(...) / .remove(...)
        forget_users(pk_set)
    else:  # group.user_set.clear(): before it, while the members are still there
        forget_users(instance.user_set.values_list("pk", flat=True))


@receiver(post_save, sender=Group)
@receiver(pre_delete, sender=Group)
def _group_changed(sender, instance: Group, **kwargs) -> None:
    """A renamed or deleted group can change every member's roles."""
    if instance.pk:
        forget_users(instance.user_set.values_list("pk", flat=True))
