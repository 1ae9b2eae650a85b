"""The Stratosphere IPS: streaming detection of hosts that behave like known
malware, with alerts that say which tuples drove them. It imports only the pure
core (stf.core), so it runs on a sensor without the database or the console."""
