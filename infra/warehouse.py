"""Network and warehouse: a VPC with flow logs, Redshift Serverless in isolated subnets that
reach only the S3 gateway endpoint, and the role COPY uses, limited to the curated and
analytics buckets and the data key."""

from __future__ import annotations

from aws_cdk import Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_redshiftserverless as redshift
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.log_groups import log_group

# Read-only S3 through the endpoint: COPY reads its manifests and data files, MWAA its DAGs.
ENDPOINT_READ_ACTIONS = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "s3:GetBucketLocation",
]


class Network(Construct):
    """Private subnets only. Redshift gets isolated subnets (no route out of the VPC but the S3
    gateway endpoint); a NAT gateway, and private subnets routed to it, exist only when
    something (MWAA: PyPI, CloudWatch, SQS) needs the internet."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cidr: str,
        needs_egress: bool,
        key: kms.IKey,
        log_retention_days: int,
        destroy_data: bool,
    ) -> None:
        super().__init__(scope, id)
        isolated = ec2.SubnetConfiguration(
            name="warehouse", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22
        )
        subnets = [isolated]
        if needs_egress:
            subnets += [
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26
                ),
            ]
        # Three AZs: Redshift Serverless needs subnets in at least three. The stack is
        # environment-agnostic, where CDK would pick two; the deploy region's first three are
        # named through Fn::GetAZs instead.
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            availability_zones=[Fn.select(i, Fn.get_azs()) for i in range(3)],
            nat_gateways=1 if needs_egress else 0,
            subnet_configuration=subnets,
            restrict_default_security_group=True,
        )
        flow_logs = log_group(
            self,
            "FlowLogs",
            key=key,
            retention_days=log_retention_days,
            destroy_data=destroy_data,
        )
        self.vpc.add_flow_log(
            "FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs)
        )
        # COPY reads S3 through the VPC (enhanced VPC routing) without leaving AWS's network.
        # Its policy is completed by allow_through_s3_endpoint once the buckets exist.
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3
        )
        self.warehouse_subnets = self.vpc.select_subnets(subnet_group_name="warehouse")
        # MWAA's subnets: routed to the NAT when there is one
        self.private_subnets = (
            self.vpc.select_subnets(subnet_group_name="private")
            if needs_egress
            else self.warehouse_subnets
        )
        stack = Stack.of(self)
        # The S3 prefix list of the region, for the warehouse's only egress rule. CloudFormation
        # cannot resolve it and a context lookup would need credentials at synth time, so it is
        # read at deploy time (ec2:DescribeManagedPrefixLists takes no resource ARN).
        self.s3_prefix_list = cr.AwsCustomResource(
            self,
            "S3PrefixList",
            on_update=cr.AwsSdkCall(
                service="EC2",
                action="describeManagedPrefixLists",
                parameters={
                    "Filters": [
                        {"Name": "prefix-list-name", "Values": [f"com.amazonaws.{stack.region}.s3"]}
                    ]
                },
                physical_resource_id=cr.PhysicalResourceId.of(f"s3-prefix-list-{stack.region}"),
                output_paths=["PrefixLists.0.PrefixListId"],
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ec2:DescribeManagedPrefixLists"], resources=["*"])]
            ),
            install_latest_aws_sdk=False,
            log_group=log_group(
                self,
                "S3PrefixListLogs",
                key=key,
                retention_days=log_retention_days,
                destroy_data=destroy_data,
            ),
        )
        self.s3_prefix_list_id = self.s3_prefix_list.get_response_field(
            "PrefixLists.0.PrefixListId"
        )

    def allow_through_s3_endpoint(self, buckets: list[s3.IBucket], aws_owned: list[str]) -> None:
        """The gateway endpoint's policy: read access to the project's buckets that something
        in the VPC reads, and to the AWS-owned buckets named (ARNs), nothing else."""
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="ProjectBuckets",
                principals=[iam.AnyPrincipal()],
                actions=ENDPOINT_READ_ACTIONS,
                resources=[arn for b in buckets for arn in (b.bucket_arn, b.arn_for_objects("*"))],
            )
        )
        if aws_owned:
            self.s3_endpoint.add_to_policy(
                iam.PolicyStatement(
                    sid="AwsOwnedBuckets",
                    principals=[iam.AnyPrincipal()],
                    actions=["s3:GetObject"],
                    resources=aws_owned,
                )
            )


class Warehouse(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        network: Network,
        key: kms.IKey,
        curated: s3.IBucket,
        analytics: s3.IBucket,
        base_rpu: int,
    ) -> None:
        super().__init__(scope, id)
        self.copy_role = iam.Role(
            self,
            "CopyRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("redshift.amazonaws.com"),
                iam.ServicePrincipal("redshift-serverless.amazonaws.com"),
            ),
            description="Redshift COPY from the curated and analytics buckets only",
        )
        curated.grant_read(self.copy_role)
        analytics.grant_read(self.copy_role)
        key.grant_decrypt(self.copy_role)
        self.security_group = ec2.SecurityGroup(
            self,
            "WarehouseSg",
            vpc=network.vpc,
            description="Redshift Serverless: no inbound rule; clients use the Data API",
            allow_all_outbound=False,
        )
        # HTTPS to S3 only (the region's S3 prefix list, reached through the gateway
        # endpoint): KMS, Secrets Manager and the Data API are called by the Redshift service
        # itself, not from the workgroup's network interfaces, so no other endpoint is needed.
        # Inline on the group: CDK would put a rule whose peer is a deploy-time token in a
        # separate SecurityGroupEgress resource, which leaves EC2's default allow-all in place.
        self.security_group.node.default_child.add_property_override(
            "SecurityGroupEgress",
            [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "DestinationPrefixListId": network.s3_prefix_list_id,
                    "Description": "S3 through the gateway endpoint, for COPY",
                }
            ],
        )
        self.namespace = redshift.CfnNamespace(
            self,
            "Namespace",
            namespace_name=name,
            db_name="dev",
            admin_username="retail_admin",
            manage_admin_password=True,  # stored and rotated in Secrets Manager
            admin_password_secret_kms_key_id=key.key_arn,
            kms_key_id=key.key_arn,
            iam_roles=[self.copy_role.role_arn],
            default_iam_role_arn=self.copy_role.role_arn,
            log_exports=["userlog", "connectionlog", "useractivitylog"],
        )
        self.workgroup = redshift.CfnWorkgroup(
            self,
            "Workgroup",
            workgroup_name=name,
            namespace_name=name,
            base_capacity=base_rpu,
            publicly_accessible=False,
            enhanced_vpc_routing=True,
            subnet_ids=network.warehouse_subnets.subnet_ids,
            security_group_ids=[self.security_group.security_group_id],
        )
        self.workgroup.add_dependency(self.namespace)
        self.workgroup_arn = self.workgroup.attr_workgroup_workgroup_arn
        self.workgroup_name = name
