"""The Stratosphere IPS: streaming detection of hosts that behave like known
malware, with alerts that say which tuples drove them. It imports only the pure
core (stf.core), so it runs on a sensor without the database or the console."""
import os

# The IPS reads on one core and judges on the other (stf.ips.reader): numpy's
# BLAS threads would only compete with the reader (and spin while waiting).
for _name in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_name, '1')
