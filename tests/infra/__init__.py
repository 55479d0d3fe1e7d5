"""The verification suite (`sovereign verify`): imports no project code, by contract."""
