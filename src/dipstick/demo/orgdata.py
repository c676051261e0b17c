"""The named demo organisation, Northwind Retail: who it serves, what it pursues, what it runs.

Plain data, written the way a service catalog reads. Structure carries the seeding: an outcome
linked from one service only, a touchpoint or value-stream step backed by one service only, and
two capabilities held twice are the places where a leak can be seeded without touching any
other service (see ``dipstick.demo.leaks``).
"""

from __future__ import annotations

ORGANISATION = "Northwind Retail (demo)"
DOMAIN = "northwind.example"

# id, name, kind, size, value dimensions "id:Name:weight"
GROUPS: tuple[tuple[str, str, str, int, str], ...] = (
    ("sales", "Sales", "internal", 180, "time_saved:Time saved:2 reliability:Reliability:1 "
     "insight:Customer insight:1"),
    ("finance", "Finance", "internal", 60, "accuracy:Accuracy:2 time_saved:Time saved:1"),
    ("people", "HR & People", "internal", 40, "time_saved:Time saved:2 ease:Ease of use:1 "
     "compliance:Compliance:1"),
    ("operations", "Operations & Warehouse", "internal", 900, "reliability:Reliability:2 "
     "speed:Speed:2 ease:Ease of use:1"),
    ("customer_service", "Customer service", "internal", 150, "time_saved:Time saved:2 "
     "reliability:Reliability:1 insight:Customer insight:1"),
    ("marketing", "Marketing", "internal", 45, "revenue:Revenue enabled:2 insight:Insight:1 "
     "ease:Ease of use:1"),
    ("it", "IT", "internal", 120, "reliability:Reliability:2 automation:Automation:1"),
    ("staff", "All staff", "internal", 2600, "ease:Ease of use:2 reliability:Reliability:2 "
     "time_saved:Time saved:1"),
    ("online_shoppers", "Online shoppers", "customer", 250000, "ease:Ease:2 speed:Speed:1 "
     "trust:Trust:1"),
    ("app_users", "Mobile app customers", "customer", 80000, "ease:Ease:2 speed:Speed:1 "
     "rewards:Rewards:1"),
    ("business_customers", "Business customers", "customer", 1200, "speed:Speed:2 "
     "accuracy:Accuracy:2 support:Support:1"),
    ("resellers", "Reseller partners", "partner", 140, "revenue:Revenue enabled:2 "
     "responsiveness:Responsiveness:1 reliability:Reliability:1"),
    ("carriers", "Delivery partners", "partner", 12, "reliability:Reliability:2 "
     "clarity:Clear instructions:1"),
    ("suppliers", "Suppliers", "supplier", 400, "payment_speed:Paid on time:2 clarity:Clarity:1 "
     "effort:Low effort:1"),
)

# id, name, capability, kind, consumers, mean daily active users at the as-of date
SERVICES: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("crm", "CRM (Salesforce)", "customer-relationship", "internal", "sales customer_service",
     420),
    ("erp", "ERP (SAP S/4HANA)", "enterprise-resource-planning", "internal",
     "finance operations", 780),
    ("hr_portal", "HR portal", "hr-self-service", "internal", "staff people", 900),
    ("payroll", "Payroll", "payroll", "internal", "people finance", 70),
    ("webshop", "Webshop", "e-commerce", "customer", "online_shoppers marketing", 38000),
    ("mobile_app", "Mobile app", "mobile-commerce", "customer", "app_users", 21000),
    ("vpn", "VPN", "remote-access", "internal", "staff", 1100),
    ("service_desk", "Service desk (ITSM)", "it-service-management", "internal", "staff it",
     1300),
    ("data_warehouse", "Data warehouse", "analytics-platform", "internal",
     "finance marketing sales", 260),
    ("bi", "BI dashboards (Power BI)", "business-intelligence", "internal",
     "finance sales operations", 520),
    ("email", "E-mail & calendar", "email", "internal", "staff", 2350),
    ("teams", "Teams", "collaboration", "internal", "staff", 2250),
    ("intranet", "Intranet", "intranet", "internal", "staff", 1400),
    ("documents", "Document management (SharePoint)", "document-management", "internal",
     "staff", 1650),
    ("identity", "Identity & access management", "identity-management", "internal", "it staff",
     380),
    ("endpoint", "Laptop management (Intune)", "endpoint-management", "internal", "it", 95),
    ("procurement", "Procurement portal", "procurement", "internal", "operations finance", 310),
    ("supplier_portal", "Supplier portal", "supplier-collaboration", "supplier",
     "suppliers operations", 260),
    ("partner_portal", "Partner portal", "partner-management", "partner", "resellers sales", 210),
    ("edi", "EDI gateway", "b2b-integration", "supplier", "suppliers carriers operations", 120),
    ("wms", "Warehouse management", "warehouse-management", "internal", "operations", 640),
    ("tms", "Transport management", "transport-management", "internal", "operations carriers",
     180),
    ("pim", "Product information management", "product-information", "internal",
     "marketing operations", 85),
    ("payment_gateway", "Payment gateway", "payments", "customer",
     "online_shoppers app_users finance", 9000),
    ("order_mgmt", "Order management", "order-management", "internal",
     "operations customer_service", 340),
    ("contact_center", "Contact center telephony", "contact-center", "internal",
     "customer_service business_customers", 150),
    ("chat", "Customer chat", "customer-chat", "customer", "online_shoppers customer_service",
     2600),
    ("marketing_automation", "Marketing automation", "marketing-automation", "internal",
     "marketing", 60),
    ("cms", "Web content management", "web-content", "internal", "marketing", 60),
    ("search", "Site search", "site-search", "customer", "online_shoppers", 15000),
    ("loyalty", "Loyalty programme", "loyalty", "customer", "app_users online_shoppers marketing",
     6000),
    ("invoicing", "Invoicing", "billing", "internal", "finance business_customers", 90),
    ("expenses", "Expense management", "expense-management", "internal", "staff finance", 450),
    ("travel", "Travel booking", "travel-booking", "internal", "staff", 160),
    ("recruiting", "Recruiting (ATS)", "recruiting", "internal", "people", 70),
    ("lms", "Learning platform", "learning", "internal", "staff people", 380),
    ("monitoring", "Monitoring & alerting", "monitoring", "internal", "it", 85),
    ("backup", "Backup & restore", "backup", "internal", "it", 60),
    ("printing", "Print service", "printing", "internal", "staff", 520),
    ("wifi", "Office Wi-Fi", "office-network", "internal", "staff", 1500),
    ("mdm", "Mobile device management", "mobile-device-management", "internal", "staff it", 900),
    ("password_reset", "Self-service password reset", "password-self-service", "internal",
     "staff", 110),
    ("treasury", "Treasury management", "treasury", "internal", "finance", 60),
    ("consolidation", "Financial consolidation", "financial-close", "internal", "finance", 60),
    ("tax", "Tax reporting", "tax-compliance", "internal", "finance", 60),
    ("contracts", "Contract management", "contract-management", "internal", "finance sales", 90),
    ("b2b_portal", "B2B ordering portal", "b2b-commerce", "customer",
     "business_customers sales", 650),
    ("customer_portal", "Customer self-service portal", "customer-self-service", "customer",
     "online_shoppers business_customers", 4200),
    ("returns", "Returns portal", "returns", "customer", "online_shoppers customer_service",
     1800),
    ("delivery_tracking", "Delivery tracking", "delivery-tracking", "customer",
     "online_shoppers app_users carriers", 7500),
    ("pricing", "Pricing engine", "pricing", "internal", "sales marketing", 70),
    ("forecasting", "Demand forecasting", "demand-planning", "internal", "operations", 60),
    ("field_service", "Field service app", "field-service", "internal", "operations", 230),
    ("dev_platform", "Developer platform (GitLab)", "software-delivery", "internal", "it", 140),
    ("api_gateway", "API gateway", "api-management", "partner", "it resellers", 160),
    ("integration", "Integration platform", "integration-platform", "internal", "it", 60),
    ("knowledge_base", "Knowledge base", "knowledge-management", "internal",
     "customer_service it staff", 700),
    ("survey_tool", "Survey tool", "surveys", "internal", "marketing customer_service", 60),
    ("esignature", "E-signature", "e-signature", "internal", "sales people", 120),
    ("visitors", "Visitor management", "visitor-management", "internal", "operations staff", 80),
    ("room_booking", "Meeting room booking", "workplace-booking", "internal", "staff", 600),
    ("invoice_capture", "Invoice capture (OCR)", "invoice-capture", "internal", "finance", 60),
    ("zoom", "Zoom", "video-conferencing", "internal", "sales staff", 420),
    ("webex", "Webex", "video-conferencing", "internal", "customer_service staff", 260),
    ("box", "Box", "file-sharing", "internal", "marketing staff", 300),
    ("dropbox", "Dropbox Business", "file-sharing", "internal", "sales staff", 220),
    ("notes", "Lotus Notes workflows", "legacy-workflow", "internal", "operations finance", 150),
    ("fax", "Fax server", "fax", "internal", "finance operations", 110),
)

# Services kept only because someone never switched them off: candidates for a legacy leak.
LEGACY = ("notes", "fax")

# id, name, KPI name, target, direction, W(eekly)/M(onthly), value 3 years ago ÷ target,
# value links "service:contribution"; the status is "active" unless given after a "|".
OUTCOMES: tuple[tuple[str, str, str, float, str, str, float, str], ...] = (
    ("online_revenue", "E-commerce: +15% online revenue", "Online revenue a month (k EUR)", 2400,
     "up", "M", 0.82, "webshop:0.5 payment_gateway:0.4 search:0.4 cms:0.3 pim:0.3 "
     "order_mgmt:0.3 customer_portal:0.3 returns:0.2"),
    ("customer_nps", "Customers: NPS of 45", "Customer NPS", 45, "up", "M", 0.75,
     "delivery_tracking:0.5 contact_center:0.4 knowledge_base:0.3 chat:0.4 returns:0.4 crm:0.2 "
     "customer_portal:0.3"),
    ("app_orders", "Mobile: 30% of orders in the app", "Orders placed in the app (%)", 30, "up",
     "M", 0.6, "mobile_app:0.8 payment_gateway:0.2"),
    ("qualified_leads", "Marketing: +10% qualified leads", "Qualified leads a week", 260, "up",
     "W", 0.85, "marketing_automation:0.8"),
    ("repeat_purchase", "Loyalty: 35% repeat purchases", "Repeat purchase rate (%)", 35, "up",
     "M", 0.85, "loyalty:0.7"),
    ("paperless", "Paperless contracts and HR files", "Documents signed digitally (%)", 90, "up",
     "M", 0.55, "esignature:0.6"),
    ("customer_insights", "Customer insights: 1,700 survey answers a month",
     "Survey answers a month", 1700, "up", "M", 0.7, "survey_tool:0.6"),
    ("win_rate", "Sales: win rate of 30%", "Win rate (%)", 30, "up", "M", 0.85,
     "crm:0.6 pricing:0.5 contracts:0.3 data_warehouse:0.2 bi:0.3 b2b_portal:0.3"),
    ("partner_revenue", "Partners: +20% partner-sourced revenue",
     "Partner revenue a month (k EUR)", 800, "up", "M", 0.78,
     "partner_portal:0.7 api_gateway:0.5 b2b_portal:0.3"),
    ("time_to_hire", "HR: hire in 35 days", "Days to hire", 35, "down", "M", 1.35,
     "recruiting:0.7 hr_portal:0.3 identity:0.2 endpoint:0.2"),
    ("engagement", "People: engagement score of 75", "Engagement score", 75, "up", "M", 0.9,
     "hr_portal:0.3 intranet:0.5 lms:0.5 teams:0.3 room_booking:0.3 expenses:0.2 travel:0.3 "
     "payroll:0.3 visitors:0.3"),
    ("close_days", "Finance: close the month in 5 days", "Working days to close", 5, "down", "M",
     1.6, "erp:0.5 consolidation:0.7 treasury:0.4 tax:0.5 invoice_capture:0.4 "
     "data_warehouse:0.3 bi:0.3 procurement:0.2 invoicing:0.3 expenses:0.2 contracts:0.3 "
     "notes:0.2 fax:0.2"),
    ("order_cycle", "Operations: deliver within 48 h", "Order-to-delivery hours", 48, "down",
     "W", 1.3, "wms:0.6 tms:0.5 order_mgmt:0.5 edi:0.3 delivery_tracking:0.2 forecasting:0.3 "
     "field_service:0.4 erp:0.3 notes:0.2"),
    ("stock_accuracy", "Operations: 99% inventory accuracy", "Inventory accuracy (%)", 99, "up",
     "W", 0.96, "wms:0.4 forecasting:0.5 pim:0.2"),
    ("supplier_otif", "Suppliers: 95% on time in full", "On time in full (%)", 95, "up", "W",
     0.9, "supplier_portal:0.7 edi:0.5 procurement:0.5"),
    ("first_contact", "Customer service: 75% first-contact resolution",
     "First-contact resolution (%)", 75, "up", "W", 0.85,
     "contact_center:0.5 knowledge_base:0.5 crm:0.3 chat:0.3"),
    ("it_productivity", "IT: under 2 h lost per employee a month",
     "Hours lost to IT per employee a month", 2.0, "down", "M", 1.5,
     "email:0.5 teams:0.5 vpn:0.6 service_desk:0.6 wifi:0.6 printing:0.4 mdm:0.5 "
     "password_reset:0.7 identity:0.3 endpoint:0.5 monitoring:0.5 backup:0.4 documents:0.5 "
     "zoom:0.3 webex:0.3 box:0.3 dropbox:0.3 dev_platform:0.3 integration:0.4 "
     "knowledge_base:0.2"),
    ("release_speed", "IT: release every week", "Releases a month", 4, "up", "M", 0.6,
     "dev_platform:0.6 integration:0.3 api_gateway:0.2 monitoring:0.2"),
    ("cloud_exit", "IT: leave the data centre|achieved", "Workloads in the cloud (%)", 100, "up",
     "M", 0.55, "backup:0.3 dev_platform:0.2"),
)

# id, name, runs a month, steps "name|process min|wait min|C&A|services"
STREAMS: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    ("onboarding", "Onboard a new employee", 28, (
        "Submit the hire|20|25|0.98|hr_portal", "Approve the headcount|15|2880|0.95|",
        "Create accounts and access|25|40|0.97|identity", "Prepare the laptop|60|90|0.98|endpoint",
        "Add to payroll|20|30|0.99|payroll", "Wait for the start date|0|7200|1|",
        "Welcome training|120|60|0.96|lms")),
    ("procure_to_pay", "Procure to pay", 650, (
        "Raise a purchase request|12|15|0.97|procurement", "Approve the spend|5|1440|0.95|",
        "Send the order|4|6|0.99|erp edi", "Receive the goods|25|45|0.98|wms",
        "Capture the invoice|6|10|0.97|invoice_capture", "Match and approve|10|2880|0.92|",
        "Pay the supplier|4|8|0.99|erp treasury")),
    ("order_to_cash", "Order to cash", 42000, (
        "Place the order|6|0|0.99|webshop payment_gateway", "Reserve stock|1|2|0.99|order_mgmt",
        "Pick and pack|14|25|0.98|wms", "Hand over to the carrier|5|240|0.98|",
        "Ship and track|3|5|0.99|tms delivery_tracking", "Invoice|1|2|0.99|invoicing")),
    ("month_end", "Close the month", 1, (
        "Post accruals|300|240|0.97|erp", "Consolidate the entities|480|600|0.96|consolidation",
        "Review with the controllers|240|2880|0.95|", "Publish the reports|180|120|0.98|bi "
        "data_warehouse")),
    ("resolve_incident", "Resolve an IT incident", 1400, (
        "Log the incident|4|5|0.97|service_desk",
        "Diagnose|25|40|0.96|monitoring knowledge_base", "Wait for the resolver group|0|240|1|",
        "Fix and verify|35|30|0.96|dev_platform integration")),
)

# id, name, persona, group, stages "Stage: tp_id|name|channel|services|visitors a week|drop-off"
JOURNEYS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("buy_online", "Buy online", "Online shopper", "online_shoppers", (
        "Discover: search|Search for a product|web|search|52000|0.11",
        "Discover: product_page|Read the product page|web|cms pim|61000|0.08",
        "Buy: checkout|Check out|web|webshop|21000|0.09",
        "Buy: pay|Pay|web|payment_gateway|18000|0.05",
        "Receive: track|Track the delivery|web|delivery_tracking|14000|0.06",
        "After sales: return|Return an item|web|returns|2600|0.12",
        "After sales: chat|Chat with us|chat|chat|3900|0.07",
        "After sales: my_orders|Manage my orders|web|customer_portal|5200|0.1")),
    ("shop_in_app", "Shop in the app", "App customer", "app_users", (
        "Sign in: app_sign_in|Sign in to the app|app|mobile_app|30000|0.06",
        "Buy: app_browse|Browse and fill the basket|app|mobile_app|26000|0.13",
        "Buy: app_pay|Pay in the app|app|payment_gateway|9000|0.05",
        "Stay: app_points|Collect loyalty points|app|loyalty|7000|0.08")),
    ("order_as_business", "Order as a business", "Purchasing manager", "business_customers", (
        "Order: b2b_order|Place a bulk order|web|b2b_portal|900|0.07",
        "Pay: b2b_invoices|Download invoices|web|invoicing|700|0.05",
        "Get help: b2b_call|Call customer service|phone|contact_center crm|450|0.1")),
    ("sell_as_partner", "Sell as a partner", "Reseller", "resellers", (
        "Join: partner_sign_up|Register as a partner|web|partner_portal|60|0.15",
        "Sell: partner_orders|Order through the API|api|api_gateway|400|0.05")),
    ("supply_goods", "Supply goods", "Supplier account manager", "suppliers", (
        "Receive orders: supplier_orders|Receive purchase orders|edi|edi|500|0.05",
        "Get paid: supplier_invoices|Submit an invoice|web|supplier_portal|350|0.06")),
)

FIRST_NAMES = ("alice", "ben", "chloe", "daan", "emma", "farid", "greta", "hugo", "ines",
               "jonas", "kim", "lena", "milan", "nora", "omar", "petra", "quentin", "rosa",
               "sven", "tara", "umar", "vera", "willem", "yara", "zoe")
LAST_NAMES = ("jansen", "muller", "rossi", "dubois", "novak", "smith", "garcia", "kowalski",
              "berg", "silva", "okafor", "larsen", "meyer", "costa", "nguyen", "haddad")
