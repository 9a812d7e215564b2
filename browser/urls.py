"""Web pages."""

urlpatterns: list = []
