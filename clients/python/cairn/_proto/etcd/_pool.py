"""The descriptor pool of etcd's messages (by scripts/gen_protos.py): do not edit.

Private, so that an etcd client library loaded in the same process (etcd3, aetcd), which
registers the same etcdserverpb message names from its own files, cannot clash with these.
"""

from google.protobuf import descriptor_pool

POOL = descriptor_pool.DescriptorPool()
