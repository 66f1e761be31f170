from django.apps import AppConfig


class SignoffsConfig(AppConfig):
    name = "signoffs"
