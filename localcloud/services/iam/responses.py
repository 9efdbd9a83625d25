"""IAM (MiniStack ``services/iam.py``): response shapes as AWS's.

>>> without("<RoleName>r</RoleName><Tags><member><Key>k</Key></member></Tags>", "Tags")
'<RoleName>r</RoleName>'

AWS's List* calls return a subset of each resource's attributes: ListRoles and ListUsers carry
no ``Tags``, ListPolicies neither ``Tags`` nor ``Description``, and CreatePolicy answers
without ``Description`` even when one was given (GetPolicy has it, and always a ``Tags`` list)
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoles.html: "The following IAM
resource attributes are not included: PermissionsBoundary, RoleLastUsed, Tags";
API_ListPolicies.html, API_CreatePolicy.html). Tags are read with ListRoleTags and friends.
"""

from __future__ import annotations

import re

from localcloud.patches import patch_source


def without(xml: str, *elements: str) -> str:
    """``xml`` with the named top-level elements (and what they hold) removed."""
    for element in elements:
        xml = re.sub(rf"<{element}>.*?</{element}>", "", xml, flags=re.DOTALL)
    return xml


def with_tags(xml: str) -> str:
    """``xml`` with an empty ``Tags`` list when it has none (GetPolicy always answers one)."""
    return xml if "<Tags>" in xml else xml + "<Tags></Tags>"


def apply() -> None:
    from ministack.services import iam

    iam._orderlab_without = without
    iam._orderlab_with_tags = with_tags
    patch_source(
        iam._list_roles,
        [
            (
                'f"<member>{_role_xml(n, boundary=False)}</member>"',
                "f\"<member>{_orderlab_without(_role_xml(n, boundary=False), 'Tags')}</member>\"",
            )
        ],
        what="IAM ListRoles attributes",
    )
    patch_source(
        iam._list_users,
        [
            (
                'f"<member>{_user_xml(n, boundary=False)}</member>"',
                "f\"<member>{_orderlab_without(_user_xml(n, boundary=False), 'Tags')}</member>\"",
            )
        ],
        what="IAM ListUsers attributes",
    )
    patch_source(
        iam._list_policies,
        [
            (
                'f"<ListPoliciesResult><Policies>{members}</Policies>"',
                "f\"<ListPoliciesResult><Policies>{_orderlab_without(members, 'Tags', 'Description')}</Policies>\"",
            )
        ],
        what="IAM ListPolicies attributes",
    )
    patch_source(
        iam._create_policy,
        [
            (
                'f"<CreatePolicyResult><Policy>{_managed_policy_xml(arn)}</Policy></CreatePolicyResult>"',
                "f\"<CreatePolicyResult><Policy>{_orderlab_without(_managed_policy_xml(arn), 'Description')}</Policy>"
                '</CreatePolicyResult>"',
            )
        ],
        what="IAM CreatePolicy attributes",
    )
    patch_source(
        iam._get_policy,
        [
            (
                'f"<GetPolicyResult><Policy>{_managed_policy_xml(arn)}</Policy></GetPolicyResult>"',
                'f"<GetPolicyResult><Policy>{_orderlab_with_tags(_managed_policy_xml(arn))}</Policy></GetPolicyResult>"',
            )
        ],
        what="IAM GetPolicy tags",
    )
