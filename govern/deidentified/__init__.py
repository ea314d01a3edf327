"""De-identified (pseudonymised) and anonymised (aggregate) exports: PIPL Art. 73(3)-(4), GDPR Art. 4(5), Recital 26."""
