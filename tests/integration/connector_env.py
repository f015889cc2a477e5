"""Helpers for tests that run connector intents against the vendor fake (tests/fakes): a
tenant whose connectors all point at one fake, and intent builders for each action type."""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))

from fake_client import VendorFake  # noqa: E402,F401

from harness import unique  # noqa: E402

TOKENS = {"hubspot": ["crm-token"], "calendar": ["cal-token"], "gmail": ["gmail-token"],
          "webhook": ["hook-token"]}

FAST_LIMITS = {"timeout_seconds": 2, "retry_budget": 1.0, "breaker_failures": 1000,
               "rate_per_second": 100000, "burst": 1000000, "concurrency": 10000}


def rfc3339(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def configure(client, fake, limits=None, crm_auth=None, only=None):
    """Points every connector of the client's tenant at the fake. Returns the PUT answers."""
    lim = dict(FAST_LIMITS)
    lim.update(limits or {})
    bodies = {
        "crm": {"base_url": fake.url(""), "auth": crm_auth or {"type": "bearer",
                                                              "token": "crm-token"}},
        "calendar": {"base_url": fake.url("/calendar/v3"),
                     "auth": {"type": "bearer", "token": "cal-token"}},
        "email": {"base_url": fake.url(""), "auth": {"type": "bearer", "token": "gmail-token"}},
        "notify": {"base_url": fake.url("/services/T000/B000/XXXX"), "auth": {"type": "none"}},
        "webhook": {"base_url": fake.url("/hooks/acme"),
                    "auth": {"type": "bearer", "token": "hook-token"},
                    "settings": {"undo": {"method": "DELETE",
                                          "path": "/{external_id}"}}},
    }
    out = {}
    for name, body in bodies.items():
        if only and name not in only:
            continue
        body = dict(body)
        body["limits"] = lim
        r = client.request("PUT", "/v1/connectors/%s" % name, body=body)
        assert r.status == 200, r
        out[name] = r
    return out


def oauth2(fake, refresh_token="fake-refresh"):
    """An oauth2 auth block for a connector, against the fake's token endpoint."""
    return {"type": "oauth2", "token_url": fake.url("/oauth2/token"),
            "client_id": "fake-client", "client_secret": "fake-secret",
            "refresh_token": refresh_token}


def crm_contact(fake, properties):
    """Creates a contact in the fake's HubSpot directly (as a CRM user would); returns its id."""
    status, _, body = fake.request("POST", "/crm/v3/objects/contacts",
                                   body={"properties": properties, "associations": []},
                                   headers={"Authorization": "Bearer crm-token"})
    assert status == 201, body
    return json.loads(body)["id"]


def crm_contact_property(fake, object_id, name):
    """The value a contact in the fake's HubSpot holds for property name."""
    status, _, body = fake.request(
        "GET", "/crm/v3/objects/contacts/%s?properties=%s" % (object_id, name),
        headers={"Authorization": "Bearer crm-token"})
    assert status == 200, body
    return json.loads(body)["properties"][name]


def meeting_params(start_in=86400):
    now = int(time.time())
    return {"summary": "Renewal call", "start": rfc3339(now + start_in),
            "end": rfc3339(now + start_in + 1800), "attendees": ["buyer@example.com"],
            "description": "booked by intentd tests"}


def crm_task_params():
    now = int(time.time())
    return {"subject": "Follow up on the renewal", "due_at": rfc3339(now + 2 * 86400),
            "body": "call them", "priority": "HIGH",
            "associations": [{"object_type": "contact", "id": "501"}]}


def draft_params():
    return {"to": ["buyer@example.com"], "subject": "Our call", "body": "Hello,\nsee you soon."}


def intent(tenant, action_type, parameters, **kw):
    kw.setdefault("action_intent_id", unique("ai_"))
    return tenant.intent(action_type=action_type, parameters=parameters, **kw)


def book_meeting(tenant, **kw):
    return intent(tenant, "sales.book_meeting",
                  {"meeting": meeting_params(), "task": crm_task_params()}, **kw)


def live(fake, vendor, kind=None):
    return fake.effects(vendor=vendor, kind=kind, state="live")
