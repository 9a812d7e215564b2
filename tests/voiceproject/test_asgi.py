"""The ASGI entry point leaves the objects of start-up out of garbage collections."""

import gc


def test_start_up_objects_are_frozen_out_of_collections():
    import voiceproject.asgi  # noqa: F401 - importing it is the start-up

    # Django, the apps and the libraries: far more than any session allocates.
    assert gc.get_freeze_count() > 50_000
