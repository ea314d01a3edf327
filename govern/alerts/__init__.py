"""Alerts that reach people: the DPO/security rota is told by e-mail or webhook when a statutory clock runs short or a
safeguard stops working, once per change of state (issue 18 item 3; docs/ops.md)."""
