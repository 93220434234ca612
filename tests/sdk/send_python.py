"""Drives Segment's Python SDK, unmodified, against the producer.

usage: send_python.py HOST WRITE_KEY PREFIX GZIP(0|1)

Sends track, page, identify and alias for the ids PREFIX-anon, PREFIX-user,
PREFIX-old and session PREFIX-s, with message ids derived from PREFIX so that
a second run re-sends the very same batch. Exits 1 if the SDK reports any
failure (it takes anything but 200 for one).
"""
import sys
import uuid

import segment.analytics as analytics

host, write_key, prefix, gzip = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
errors = []
client = analytics.Client(write_key, host=host, gzip=gzip, sync_mode=True, max_retries=2,
                          on_error=lambda e, batch: errors.append(repr(e)))


def mid(call):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, prefix + "/" + call))


anon, user = prefix + "-anon", prefix + "-user"
client.track(user_id=user, anonymous_id=anon, event="Order Completed",
             properties={"total": 42, "session_id": prefix + "-s"}, message_id=mid("track"))
client.page(anonymous_id=anon, category="Docs", name="Home",
            properties={"url": "https://example.com/" + prefix}, message_id=mid("page"))
client.identify(user_id=user, anonymous_id=anon, traits={"plan": "pro"}, message_id=mid("identify"))
client.alias(previous_id=prefix + "-old", user_id=user, message_id=mid("alias"))
client.flush()
if errors:
    print("errors:", errors)
    sys.exit(1)
