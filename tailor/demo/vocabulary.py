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
# (a duplicate's case says what became of its e-mail address: the same, another one or a typo, none; a twin
# shares surname, address and birth date with another person)
IDENTITY_CASES = ["primary", "persona", "same_email_duplicate", "changed_email_duplicate", "family_member",
                  "family_shared_email", "placeholder_phone", "placeholder_email", "email_typo", "twin",
                  "no_email_duplicate"]
(CASE_PRIMARY, CASE_PERSONA, CASE_SAME_EMAIL_DUPLICATE, CASE_CHANGED_EMAIL_DUPLICATE, CASE_FAMILY_MEMBER,
 CASE_FAMILY_SHARED_EMAIL, CASE_PLACEHOLDER_PHONE, CASE_PLACEHOLDER_EMAIL, CASE_EMAIL_TYPO, CASE_TWIN,
 CASE_NO_EMAIL_DUPLICATE) = range(len(IDENTITY_CASES))

# the corruptions a duplicate record can carry (demo_truth/identity_cases.csv, column ``corruptions``, joined by
# ';' in this order): ``<field>:<kind>``; ``names:swapped`` is first and last name exchanged
_CHAR = ["insert", "delete", "substitute", "transpose"]
CORRUPTIONS = (
    [f"first_name:{k}" for k in ["missing", "nickname", "phonetic", "ocr", *_CHAR]]
    + [f"last_name:{k}" for k in ["missing", "phonetic", "ocr", *_CHAR]]
    + ["names:swapped", "email:typo", "email:changed", "email:missing", "phone:changed", "phone:missing",
       "country:missing"]
    + [f"postcode:{k}" for k in ["missing", "digit", "transpose", "ocr"]]
    + [f"city:{k}" for k in ["missing", "exonym", "phonetic", *_CHAR]]
    + [f"street:{k}" for k in ["missing", "abbreviation", "phonetic", *_CHAR]]
    + ["house_number:wrong", "house_number:missing", "address_line2:missing"]
    + [f"date_of_birth:{k}" for k in ["missing", "day_month_swapped", "digit", "placeholder"]]
)

# timestamp styles: "...Z", "...+01:00" (the local time), naive "...T...", naive "... ...", "....123Z",
# "...+00:00"
TS_Z, TS_OFFSET, TS_NAIVE, TS_NAIVE_SPACE, TS_MS_Z, TS_UTC_OFFSET = range(6)
