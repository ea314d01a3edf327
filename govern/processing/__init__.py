"""Records of processing activities (GDPR Art. 30; PIPL Art. 54–56), generated from policy and the recipient
register — never written by hand — and the impact-assessment gate that keeps a purpose from being used without one."""
