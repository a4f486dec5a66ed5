"""Network and warehouse: a VPC with flow logs, Redshift Serverless in its private subnets,
and the role COPY uses, limited to the curated and analytics buckets and the data key."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_redshiftserverless as redshift
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.ingestion import _retention


class Network(Construct):
    """Private subnets only; a NAT gateway only when something (MWAA) needs the internet."""

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
        private = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS if needs_egress else ec2.SubnetType.PRIVATE_ISOLATED
        )
        subnets = [ec2.SubnetConfiguration(name="private", subnet_type=private, cidr_mask=22)]
        if needs_egress:
            subnets.append(
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26
                )
            )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            max_azs=3,
            nat_gateways=1 if needs_egress else 0,
            subnet_configuration=subnets,
            restrict_default_security_group=True,
        )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=_retention(log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY if destroy_data else RemovalPolicy.RETAIN,
        )
        self.vpc.add_flow_log(
            "FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs)
        )
        # COPY reads S3 through the VPC (enhanced VPC routing) without leaving AWS's network.
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.private_subnets = self.vpc.select_subnets(subnet_type=private)


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
        # HTTPS out only; in isolated subnets the S3 gateway endpoint is all it can reach.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "S3 (gateway endpoint) for COPY"
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
            subnet_ids=network.private_subnets.subnet_ids,
            security_group_ids=[self.security_group.security_group_id],
        )
        self.workgroup.add_dependency(self.namespace)
        self.workgroup_arn = self.workgroup.attr_workgroup_workgroup_arn
        self.workgroup_name = name
