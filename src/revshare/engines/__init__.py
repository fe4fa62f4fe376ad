"""How tokens are produced: one small interface (`base.Engine`), one module per kind."""
