"""The DPO and auditor web console (server-rendered, zh/en)."""
