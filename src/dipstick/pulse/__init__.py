"""Pulse checks: ask stakeholders, regularly, in 60 seconds; answers feed perception."""
