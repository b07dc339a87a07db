-- The database the test suite uses (tests/conftest.py), beside the deployment's own.
CREATE DATABASE test;
