"""The demo data's time window and its vocabularies: each list is written to the files as text, and the
generator's arrays hold the index into it (the integer codes below).

A list that is a contract's list of choices (tailor/sources/contracts.py) is taken from the contract, in its
order: the integer codes below name its positions. MAIL_TYPES is the demo's own subset of the ESP's events.
"""

from __future__ import annotations

from tailor.sources import contracts

DAY = 86_400
HOUR = 3_600
WINDOW_DAYS = 730  # all generated activity lies in [as_of - WINDOW_DAYS, as_of)

WEB_TYPES = list(contracts.WEB_EVENTS.choices("event_type"))
PAGE_VIEW, PRODUCT_VIEW, ADD_TO_CART, CHECKOUT_STARTED = range(len(WEB_TYPES))

PLATFORMS = list(contracts.WEB_EVENTS.choices("platform"))

ORDER_STATUS = list(contracts.ORDERS.choices("status"))

MAIL_TYPES = ["processed", "delivered", "open", "click", "bounce", "dropped", "spamreport", "unsubscribe",
              "group_unsubscribe"]
(MAIL_PROCESSED, MAIL_DELIVERED, MAIL_OPEN, MAIL_CLICK, MAIL_BOUNCE, MAIL_DROPPED, MAIL_SPAMREPORT,
 MAIL_UNSUBSCRIBE, MAIL_GROUP_UNSUBSCRIBE) = range(len(MAIL_TYPES))

CONSENT_STATUS = list(contracts.CONSENT_EVENTS.choices("status"))
GRANTED, REVOKED = range(len(CONSENT_STATUS))

CONSENT_SOURCES = ["signup_form", "preference_center", "import", "checkout"]
FROM_SIGNUP_FORM, FROM_PREFERENCE_CENTER, FROM_IMPORT, FROM_CHECKOUT = range(len(CONSENT_SOURCES))

CONSENT_PURPOSES = list(contracts.CONSENT_PURPOSES)
PURPOSE_EMAIL, PURPOSE_SMS, PURPOSE_PERSONALIZATION = range(len(CONSENT_PURPOSES))

# the system a CRM record came from
SOURCE_SYSTEMS = list(contracts.CRM_CUSTOMERS.choices("source_system"))
SYSTEM_SHOP, SYSTEM_POS, SYSTEM_NEWSLETTER, SYSTEM_IMPORT = range(len(SOURCE_SYSTEMS))

# identity case of each CRM record (demo_truth/identity_cases.csv): what identity resolution must do with it
IDENTITY_CASES = ["primary", "persona", "same_email_duplicate", "changed_email_duplicate", "family_member",
                  "family_shared_email", "placeholder_phone", "placeholder_email", "email_typo"]
(CASE_PRIMARY, CASE_PERSONA, CASE_SAME_EMAIL_DUPLICATE, CASE_CHANGED_EMAIL_DUPLICATE, CASE_FAMILY_MEMBER,
 CASE_FAMILY_SHARED_EMAIL, CASE_PLACEHOLDER_PHONE, CASE_PLACEHOLDER_EMAIL, CASE_EMAIL_TYPO) = range(len(IDENTITY_CASES))

# timestamp styles: "...Z", "...+01:00" (the local time), naive "...T...", naive "... ...", "....123Z",
# "...+00:00"
TS_Z, TS_OFFSET, TS_NAIVE, TS_NAIVE_SPACE, TS_MS_Z, TS_UTC_OFFSET = range(6)
