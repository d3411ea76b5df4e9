"""The Consul areas Shoal does not provide (ACLs, Connect, config entries, operator,
peering, Enterprise namespaces and partitions) answer 501 with a JSON
error saying Shoal does not provide them, through py-consul's own calls, never a bare 404."""

import json
import urllib.error
import urllib.request

import consul
import pytest


@pytest.mark.parametrize("call, says", [
    (lambda c: c.acl.tokens.list(), "ACL"),
    (lambda c: c.operator.raft_config(), "operator"),
    (lambda c: c.operator.autopilot_configuration(), "operator"),
    (lambda c: c.connect.ca.roots(), "Connect"),
    (lambda c: c.config.list("service-defaults"), "config entries"),
])
def test_py_consul_calls_get_a_501_that_says_why(c, call, says):
    with pytest.raises(consul.ConsulException) as e:
        call(c)
    assert "501" in str(e.value) and "Shoal does not provide" in str(e.value) and says in str(e.value)


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/peerings"),
    ("GET", "/v1/namespaces"),
    ("PUT", "/v1/partition"),
    ("GET", "/v1/health/connect/web"),
    ("GET", "/v1/discovery-chain/web"),
    ("PUT", "/v1/agent/token/default"),
])
def test_raw_paths_get_a_501_json_error(shoal, method, path):
    req = urllib.request.Request(f"http://{shoal.http}{path}", method=method, data=b"" if method == "PUT" else None)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 501
    body = json.load(e.value)
    assert body["error"].startswith("Shoal does not provide")


def test_a_real_typo_is_still_a_404(shoal):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{shoal.http}/v1/catalog/servicez")
    assert e.value.code == 404
