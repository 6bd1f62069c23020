"""Deploy-and-prove integration test: a throw-away copy of a stack on AWS, always destroyed.

`make integration STACK=dev` runs it; the default `pytest` run skips it (see test_deploy.py).
"""
