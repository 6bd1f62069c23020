"""The offline test suite (see the README's Tests section)."""

import gc

# Each program run allocates hundreds of thousands of short-lived objects, and pulumi_aws's
# generated modules thousands of classes as they load: at the default thresholds the cyclic
# collector runs over and over for little garbage, about a seventh of the suite's time. The
# suite fits in memory many times over, so collect far less often. Set here, before the first
# import of Pulumi.
gc.set_threshold(100_000, 50, 100)
