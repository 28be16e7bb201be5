-- Cost per billing month, promoted tag and currency: one row per tag key and value, with
-- tag_value NULL for the untagged cost. The promoted tags are the transform's default list
-- (Brand, Project, Owner, CostCenter, Environment, Application).
CREATE OR REPLACE VIEW alibaba_cost_monthly_by_tag AS
WITH tagged AS (
  SELECT yearmonth, 'Brand' AS tag_key, x_TagBrand AS tag_value, BillingCurrency, BilledCost, EffectiveCost, ListCost FROM alibaba_focus
  UNION ALL
  SELECT yearmonth, 'Project', x_TagProject, BillingCurrency, BilledCost, EffectiveCost, ListCost FROM alibaba_focus
  UNION ALL
  SELECT yearmonth, 'Owner', x_TagOwner, BillingCurrency, BilledCost, EffectiveCost, ListCost FROM alibaba_focus
  UNION ALL
  SELECT yearmonth, 'CostCenter', x_TagCostCenter, BillingCurrency, BilledCost, EffectiveCost, ListCost FROM alibaba_focus
  UNION ALL
  SELECT yearmonth, 'Environment', x_TagEnvironment, BillingCurrency, BilledCost, EffectiveCost, ListCost FROM alibaba_focus
  UNION ALL
  SELECT yearmonth, 'Application', x_TagApplication, BillingCurrency, BilledCost, EffectiveCost, ListCost FROM alibaba_focus
)
SELECT
  yearmonth AS billing_month,
  tag_key,
  tag_value,
  BillingCurrency,
  sum(BilledCost) AS billed_cost,
  sum(EffectiveCost) AS effective_cost,
  sum(ListCost) AS list_cost,
  count(*) AS line_items
FROM tagged
GROUP BY yearmonth, tag_key, tag_value, BillingCurrency
