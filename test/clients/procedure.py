"""The 2019 article's customer-managed-key procedure with Debian's Python SDK (python3-azure), unchanged
client code: ManagedIdentityCredential (App Service IDENTITY_ENDPOINT/IDENTITY_HEADER), the management
clients pointed at the sandbox's ARM endpoint, KeyClient on the port-less vault URI (through HTTPS_PROXY).

Prints one JSON object: every step's outcome (what Azure answered and the state read back afterwards);
test/clients/cli-and-python.test.ts asserts each against the documented behaviour. The sandbox clock is
virtual, so the script advances it through the control API where Azure would simply take time.
"""
import json
import os
import sys
import time

import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import ManagedIdentityCredential
from azure.keyvault.keys import KeyClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.servicebus import ServiceBusManagementClient

ARM = os.environ["ARM_ENDPOINT"]
SUB = os.environ["SANDBOX_SUBSCRIPTION_ID"]
TENANT = os.environ["SANDBOX_TENANT_ID"]
OPERATOR = os.environ["SANDBOX_OPERATOR_OBJECT_ID"]
RG = "rg-py"
LOCATION = "westeurope"

credential = ManagedIdentityCredential()
arm = dict(base_url=ARM, credential_scopes=[ARM + "/.default"])
resources = ResourceManagementClient(credential, SUB, **arm)
vaults = KeyVaultManagementClient(credential, SUB, **arm).vaults
servicebus = ServiceBusManagementClient(credential, SUB, **arm)

report = {}


def advance(duration):
    """Sandbox control API: let clock time pass (Azure would just take that long)."""
    r = requests.post(
        ARM + "/_sandbox/clock/advance",
        json={"duration": duration},
        headers={"Authorization": "Bearer " + os.environ["SANDBOX_ADMIN_SECRET"]},
    )
    r.raise_for_status()


def refusal(call):
    """Runs a call that Azure refuses; returns what it answered (None when it did not refuse)."""
    try:
        call()
    except HttpResponseError as e:
        return {"status": e.status_code, "code": e.error.code if e.error else None, "message": e.error.message if e.error else str(e.message)}
    return None


def vault(name, purge_protection, network_acls=None):
    properties = {
        "tenant_id": TENANT,
        "sku": {"family": "A", "name": "standard"},
        "enable_soft_delete": True,
        "access_policies": [
            {"tenant_id": TENANT, "object_id": OPERATOR, "permissions": {"keys": ["get", "list", "create"]}}
        ],
    }
    if purge_protection:
        properties["enable_purge_protection"] = True
    if network_acls:
        properties["network_acls"] = network_acls
    return vaults.begin_create_or_update(RG, name, {"location": LOCATION, "properties": properties}).result()


def grant(vault_name, object_id):
    vaults.update_access_policy(
        RG,
        vault_name,
        "add",
        {
            "properties": {
                "access_policies": [
                    {
                        "tenant_id": TENANT,
                        "object_id": object_id,
                        "permissions": {"keys": ["get", "wrapKey", "unwrapKey"]},
                    }
                ]
            }
        },
    )


def namespace(name, sku="Premium", location=LOCATION):
    ns = servicebus.namespaces.begin_create_or_update(
        RG,
        name,
        {
            "location": location,
            "sku": {"name": sku, "tier": sku, **({"capacity": 1} if sku == "Premium" else {})},
            "identity": {"type": "SystemAssigned"},
        },
    ).result()
    advance("PT10M")  # activation
    return ns


def encrypt(name, keys):
    ns = servicebus.namespaces.get(RG, name)
    ns.encryption = {
        "key_source": "Microsoft.KeyVault",
        "key_vault_properties": [{"key_name": k, "key_vault_uri": uri} for (k, uri) in keys],
    }
    return servicebus.namespaces.begin_create_or_update(RG, name, ns).result()


def encryption_of(name):
    e = servicebus.namespaces.get(RG, name).encryption
    return None if e is None else [(p.key_name, p.key_vault_uri) for p in e.key_vault_properties or []]


def alias_state(ns, alias):
    a = servicebus.disaster_recovery_configs.get(RG, ns, alias)
    return {"provisioningState": a.provisioning_state, "role": a.role, "partner": a.partner_namespace}


def wait_alias(ns, alias):
    for _ in range(30):
        state = alias_state(ns, alias)
        if state["provisioningState"] == "Succeeded":
            return state
        advance("PT1M")
    return state


started = time.time()
resources.resource_groups.create_or_update(RG, {"location": LOCATION})

# -- the procedure -------------------------------------------------------------------------------------
# Vault with soft delete but without purge protection, then `update` turns purge protection on.
created = vault("kv-py", purge_protection=False)
report["vaultCreated"] = {
    "softDelete": created.properties.enable_soft_delete,
    "purgeProtection": created.properties.enable_purge_protection,
    "vaultUri": created.properties.vault_uri,
}
vaults.update(RG, "kv-py", {"properties": {"enable_purge_protection": True}})
read = vaults.get(RG, "kv-py").properties
report["vaultUpdated"] = {"softDelete": read.enable_soft_delete, "purgeProtection": read.enable_purge_protection}
vault_uri = read.vault_uri

keys = KeyClient(vault_uri, credential)
key = keys.create_rsa_key("cmk", size=2048)
report["key"] = {"kid": key.id, "kty": str(key.key_type), "readBack": keys.get_key("cmk").id}

primary = namespace("sb-py-primary")
report["namespace"] = {
    "sku": primary.sku.name,
    "identity": primary.identity.type,
    "principalId": primary.identity.principal_id,
}
grant("kv-py", primary.identity.principal_id)
report["accessPolicy"] = [
    {"objectId": p.object_id, "keys": sorted(str(k) for k in p.permissions.keys)}
    for p in vaults.get(RG, "kv-py").properties.access_policies
]
encrypt("sb-py-primary", [("cmk", vault_uri)])
report["encryption"] = {
    "keySource": str(servicebus.namespaces.get(RG, "sb-py-primary").encryption.key_source),
    "keys": encryption_of("sb-py-primary"),
}

# Geo-DR with CMK already set: the secondary's identity gets access first, then the pairing.
secondary = namespace("sb-py-secondary", location="northeurope")
grant("kv-py", secondary.identity.principal_id)
servicebus.disaster_recovery_configs.create_or_update(
    RG, "sb-py-primary", "sb-py-alias", {"partner_namespace": secondary.id}
)
report["pair"] = {
    "primary": wait_alias("sb-py-primary", "sb-py-alias"),
    "secondary": alias_state("sb-py-secondary", "sb-py-alias"),
}
servicebus.disaster_recovery_configs.break_pairing(RG, "sb-py-primary", "sb-py-alias")
report["breakPair"] = {
    "primary": wait_alias("sb-py-primary", "sb-py-alias"),
    "secondaryStillHasAlias": refusal(lambda: servicebus.disaster_recovery_configs.get(RG, "sb-py-secondary", "sb-py-alias")),
}

# -- the refusals (each: what Azure answers, and the namespace's encryption read back) ------------------
standard = namespace("sb-py-standard", sku="Standard")
grant("kv-py", standard.identity.principal_id)
report["refuseStandard"] = {
    "error": refusal(lambda: encrypt("sb-py-standard", [("cmk", vault_uri)])),
    "encryption": encryption_of("sb-py-standard"),
}

with_queue = namespace("sb-py-queue")
grant("kv-py", with_queue.identity.principal_id)
servicebus.queues.create_or_update(RG, "sb-py-queue", "orders", {})
report["refuseQueue"] = {
    "error": refusal(lambda: encrypt("sb-py-queue", [("cmk", vault_uri)])),
    "encryption": encryption_of("sb-py-queue"),
}

no_pp = vault("kv-py-nopp", purge_protection=False)
KeyClient(no_pp.properties.vault_uri, credential).create_rsa_key("cmk", size=2048)
ns_no_pp = namespace("sb-py-nopp")
grant("kv-py-nopp", ns_no_pp.identity.principal_id)
report["refuseNoPurgeProtection"] = {
    "error": refusal(lambda: encrypt("sb-py-nopp", [("cmk", no_pp.properties.vault_uri)])),
    "encryption": encryption_of("sb-py-nopp"),
}

four = namespace("sb-py-four")
grant("kv-py", four.identity.principal_id)
for name in ("cmk2", "cmk3", "cmk4"):
    keys.create_rsa_key(name, size=2048)
report["refuseFourKeys"] = {
    "error": refusal(lambda: encrypt("sb-py-four", [(k, vault_uri) for k in ("cmk", "cmk2", "cmk3", "cmk4")])),
    "encryption": encryption_of("sb-py-four"),
}

subnet = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default"
vnet = vault(
    "kv-py-vnet",
    purge_protection=True,
    network_acls={"default_action": "Allow", "bypass": "AzureServices", "virtual_network_rules": [{"id": subnet}]},
)
KeyClient(vnet.properties.vault_uri, credential).create_rsa_key("cmk", size=2048)
ns_vnet = namespace("sb-py-vnet")
grant("kv-py-vnet", ns_vnet.identity.principal_id)
report["refuseVnetRule"] = {
    "error": refusal(lambda: encrypt("sb-py-vnet", [("cmk", vnet.properties.vault_uri)])),
    "encryption": encryption_of("sb-py-vnet"),
}

no_access = namespace("sb-py-noaccess")  # no access policy for its identity
report["refuseNoAccess"] = {
    "error": refusal(lambda: encrypt("sb-py-noaccess", [("cmk", vault_uri)])),
    "encryption": encryption_of("sb-py-noaccess"),
}

report["seconds"] = round(time.time() - started, 1)
json.dump(report, sys.stdout)
