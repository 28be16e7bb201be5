-- Cost per billing month, service and currency.
CREATE OR REPLACE VIEW alibaba_cost_monthly_by_service AS
SELECT
  yearmonth AS billing_month,
  ServiceCategory,
  ServiceName,
  BillingCurrency,
  sum(BilledCost) AS billed_cost,
  sum(EffectiveCost) AS effective_cost,
  sum(ListCost) AS list_cost,
  count(*) AS line_items
FROM alibaba_focus
GROUP BY yearmonth, ServiceCategory, ServiceName, BillingCurrency
