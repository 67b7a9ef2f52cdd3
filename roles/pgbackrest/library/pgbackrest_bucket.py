#!/usr/bin/python
"""Check (and in a lab, create) the S3 bucket of a pgBackRest repository, from the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pgbackrest_bucket
short_description: Make sure a pgBackRest S3/R2 bucket exists, is writable and keeps its objects
description:
  - Runs on the controller with boto3. Checks that the bucket exists (or creates it when
    I(create=true), for a lab), that the keys can write and delete an object under the
    repository path, and that no lifecycle rule would expire objects under that path
    (only aborting incomplete multipart uploads is allowed).
  - Every failure names the inventory variable to fix.
options:
  endpoint: {description: S3 endpoint host (no scheme)., type: str, required: true}
  region: {description: Region (auto for R2)., type: str, default: auto}
  bucket: {description: Bucket name., type: str, required: true}
  path: {description: Repository path inside the bucket., type: str, required: true}
  access_key: {description: Access key id., type: str, required: true, no_log: true}
  secret_key: {description: Secret access key., type: str, required: true, no_log: true}
  ca_file: {description: CA bundle to verify the endpoint with (a lab CA)., type: path}
  create: {description: Create the bucket when missing (labs)., type: bool, default: false}
"""

EXAMPLES = r"""
- name: Bucket exists, is writable and has no expiring lifecycle rule
  pgbackrest_bucket:
    endpoint: 0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com
    bucket: learning-pgbackrest
    path: /pgbackrest/learning
    access_key: "{{ vault_r2_access_key }}"
    secret_key: "{{ vault_r2_secret_key }}"
  delegate_to: localhost
"""

RETURN = r"""
created: {description: Whether the bucket was created., type: bool, returned: always}
lifecycle: {description: What was found about lifecycle rules., type: str, returned: always}
"""

import uuid

from ansible.module_utils.basic import AnsibleModule

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, SSLError
except ImportError:  # pragma: no cover
    boto3 = None

KEY_ERRORS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Unauthorized", "403"}


def _code(exc):
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


def _rule_applies(rule, prefix):
    scope = rule.get("Filter", {}) or {}
    rule_prefix = rule.get("Prefix", scope.get("Prefix", scope.get("And", {}).get("Prefix", "")))
    return prefix.startswith(rule_prefix or "") or (rule_prefix or "").startswith(prefix)


def main():
    module = AnsibleModule(
        argument_spec={
            "endpoint": {"type": "str", "required": True},
            "region": {"type": "str", "default": "auto"},
            "bucket": {"type": "str", "required": True},
            "path": {"type": "str", "required": True},
            "access_key": {"type": "str", "required": True, "no_log": True},
            "secret_key": {"type": "str", "required": True, "no_log": True},
            "ca_file": {"type": "path"},
            "create": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    if boto3 is None:
        module.fail_json(msg="pgbackrest_bucket needs boto3 on the controller (requirements.txt)")
    p = module.params
    s3 = boto3.client(
        "s3",
        endpoint_url=f"https://{p['endpoint']}",
        region_name=p["region"],
        aws_access_key_id=p["access_key"],
        aws_secret_access_key=p["secret_key"],
        verify=p["ca_file"] or True,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=10,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )
    prefix = p["path"].strip("/") + "/"
    created = False
    try:
        try:
            s3.head_bucket(Bucket=p["bucket"])
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            if not p["create"]:
                module.fail_json(
                    msg=f"pgbackrest_bucket: bucket {p['bucket']!r} does not exist at "
                    f"{p['endpoint']}; create it (R2 dashboard) or fix pgbackrest_bucket"
                )
            if not module.check_mode:
                s3.create_bucket(Bucket=p["bucket"])
            created = True
        if not module.check_mode and not created:
            probe = f"{prefix}.pgfleet-write-test-{uuid.uuid4().hex}"
            s3.put_object(Bucket=p["bucket"], Key=probe, Body=b"pgfleet bucket check\n")
            s3.delete_object(Bucket=p["bucket"], Key=probe)
        lifecycle = "no lifecycle rules"
        if not created:
            try:
                rules = s3.get_bucket_lifecycle_configuration(Bucket=p["bucket"]).get("Rules", [])
            except ClientError as exc:
                if _code(exc) in ("NoSuchLifecycleConfiguration", "NotImplemented", "501"):
                    rules = []
                    if _code(exc) != "NoSuchLifecycleConfiguration":
                        lifecycle = "the store does not report lifecycle rules"
                else:
                    raise
            bad = [
                r.get("ID", "?")
                for r in rules
                if r.get("Status", "Enabled") == "Enabled"
                and _rule_applies(r, prefix)
                and any(
                    k in r for k in ("Expiration", "Transitions", "NoncurrentVersionExpiration")
                )
            ]
            if bad:
                module.fail_json(
                    msg=f"pgbackrest_bucket: lifecycle rule(s) {', '.join(bad)} of bucket "
                    f"{p['bucket']!r} would expire or move objects under {prefix}; pgBackRest "
                    "manages retention itself (pgbackrest_retention_full). Remove them, or "
                    "scope them elsewhere; only aborting incomplete multipart uploads is safe."
                )
            if rules and lifecycle == "no lifecycle rules":
                lifecycle = f"{len(rules)} rule(s), none expire objects under {prefix}"
    except EndpointConnectionError as exc:
        module.fail_json(
            msg=f"pgbackrest_s3_endpoint: cannot reach https://{p['endpoint']} ({exc})"
        )
    except SSLError as exc:
        module.fail_json(
            msg=f"pgbackrest_s3_endpoint: TLS verification of {p['endpoint']} failed ({exc}); "
            "check the endpoint name and pgbackrest_s3_ca_file"
        )
    except ClientError as exc:
        code = _code(exc)
        if code in KEY_ERRORS:
            module.fail_json(
                msg=f"pgbackrest_s3_key / pgbackrest_s3_key_secret: the store refused the keys "
                f"for bucket {p['bucket']!r} ({code}); check the access key pair and its "
                "permissions (object read and write on this bucket)"
            )
        if code in ("NoSuchBucket", "404"):
            module.fail_json(
                msg=f"pgbackrest_bucket: bucket {p['bucket']!r} does not exist ({code})"
            )
        module.fail_json(msg=f"pgbackrest_bucket: the store answered {code}: {exc}")
    except BotoCoreError as exc:
        module.fail_json(msg=f"pgbackrest_s3_endpoint: {exc}")
    module.exit_json(changed=created, created=created, lifecycle=lifecycle)


if __name__ == "__main__":
    main()
