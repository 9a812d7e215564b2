from django.urls import path

from calls.api import views

urlpatterns = [
    path("calls/", views.CallListView.as_view(), name="calls-list"),
    path("calls/initiate", views.CallInitiateView.as_view(), name="calls-initiate"),
    path("calls/terminate", views.CallTerminateView.as_view(), name="calls-terminate"),
    path("calls/transfer", views.CallTransferView.as_view(), name="calls-transfer"),
    path("calls/answer", views.CallAnswerView.as_view(), name="calls-answer"),
    path("calls/callbacks", views.CallCallbacksView.as_view(), name="calls-callbacks"),
]
