-- Every provider's FOCUS data in one shape: the FOCUS 1.2 columns, ServiceProviderName and
-- HostProviderName (FOCUS 1.3), x_SourceProvider, x_ExportSource (the Alibaba account; NULL for
-- other providers) and the promoted tags. One branch per adapter
-- view; a source that is not configured is left out of the union when the SQL is applied.
-- Sum money per BillingCurrency: never across currencies.
CREATE OR REPLACE VIEW focus_unified AS
SELECT * FROM focus_source_alibaba
UNION ALL
SELECT * FROM focus_source_aws_focus_1_0
UNION ALL
SELECT * FROM focus_source_aws_focus_1_2
UNION ALL
SELECT * FROM focus_source_google_cloud
UNION ALL
SELECT * FROM focus_source_azure
UNION ALL
SELECT * FROM focus_source_oci
UNION ALL
SELECT * FROM focus_source_datacenter
