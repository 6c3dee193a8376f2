"""Pure motion policy: guidance recommendation and schedules, troubleshooting advice, optical-flow analysis,
motion targets and the CLIP tokenizer (offline)."""
