"""Pulse checks: ask a service's stakeholder groups, in 60 seconds, whether they still see value.

* :mod:`.tokens` — unguessable single-use links (only their SHA-256 is stored) and form nonces;
* :mod:`.form` — the questions of a campaign and the validation of one answer (pure);
* :mod:`.campaigns` — campaigns, invitations, open links and answers (stored by
  :mod:`dipstick.store.pulse`, which sees token hashes, never tokens);
* :mod:`.invitees` — the invitee CSV (email, group), every problem with its row and field;
* :mod:`.results` — response rate, scores per group and dimension, promoters − detractors (pure);
* :mod:`.feed` — stored answers as ``surveys`` rows for the ``perception`` indicator;
* :mod:`.mail` — invitations and reminders by SMTP (through the alerts' e-mail delivery);
* :mod:`.overdue` — service × group pairs not asked for too long, and their alerts;
* :mod:`.schedules` — recurring check-ins.

Privacy (docs/pulse.md): an answer is stored without any link to the invitation, e-mail or
browser that gave it, with its day only; results per group are shown from 5 answers up.
"""
