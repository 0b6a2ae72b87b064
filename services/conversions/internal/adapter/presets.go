package adapter

// The presets, each built from its network's own documentation of what it
// sends a publisher; the golden tests (presets_test.go) feed each the
// documented example and name the source.
//
// Where a network documents macros, the parameter names are those of its
// documented example, or, where its example names none, the macro's name;
// the postback URL builder (PostbackURL) writes them into the URL a
// publisher pastes into the network's UI, so what arrives is what the
// preset reads.
func presets() map[string]Mapping {
	identity := map[string]string{}
	for _, f := range canonicalFields {
		identity[f] = f
	}
	canonical := map[string]string{"pending": "pending", "approved": "approved", "reversed": "reversed"}
	return map[string]Mapping{
		// linkcredit's own postback, as the contract describes it.
		"standard": {Fields: identity, Statuses: canonical},

		// impact.com partner Event Notifications: impact.com substitutes
		// {Macro} placeholders in a URL the partner configures and sends it
		// as GET when an action is tracked, modified or reversed (Action
		// Lifecycle Events) and when it clears (Action Clearing Events). The
		// documented GET parameters are action_id, status (APPROVED,
		// PENDING, REVERSED) and payout; the documented body template maps
		// status_detail to {StatusDetail}, amount to {Amount}, currency to
		// {Currency} and event_date to {EventDate}. {SubId1} returns the
		// subId1 of the tracking link. Sku, EventId and ReasonCode are no
		// impact.com macros. A notification without the sale amount (the
		// documented example has none) records a sale of 0.
		"impact": {
			Fields: map[string]string{FieldOrderID: "action_id", FieldClickID: "subid1", FieldStatus: "status",
				FieldReasonCode: "status_detail", FieldCommission: "payout", FieldSaleAmount: "amount",
				FieldCurrency: "currency", FieldOccurredAt: "event_date"},
			Statuses: map[string]string{"PENDING": "pending", "APPROVED": "approved", "REVERSED": "reversed"},
			Defaults: map[string]string{FieldSaleAmount: "0"},
			Macros: map[string]string{FieldOrderID: "{ActionId}", FieldClickID: "{SubId1}", FieldStatus: "{Status}",
				FieldReasonCode: "{StatusDetail}", FieldCommission: "{Payout}", FieldSaleAmount: "{Amount}",
				FieldCurrency: "{Currency}", FieldOccurredAt: "{EventDate}"},
			ClickParam: "subId1",
		},

		// Awin Transaction Notifications: sent when a transaction is
		// recorded, as GET with !!!placeholder!!! macros or as POST with the
		// JSON in the AwinTransactionPush form field. They carry no status:
		// a new transaction is pending (defaults.status, which a partner may
		// change) and Awin sends no later notification for its validation
		// or decline. transactionDate is "%Y-%m-%d %H:%i:%s" in UTC. The
		// clickRef placeholder returns the clickref of the tracking link.
		"awin": {
			Fields: map[string]string{FieldOrderID: "transactionId", FieldClickID: "clickRef", FieldCommission: "commission",
				FieldSaleAmount: "transactionAmount", FieldCurrency: "transactionCurrency", FieldOccurredAt: "transactionDate"},
			Statuses:  canonical,
			Defaults:  map[string]string{FieldStatus: "pending"},
			JSONParam: "AwinTransactionPush",
			Macros: map[string]string{FieldOrderID: "!!!transactionId!!!", FieldClickID: "!!!clickRef!!!",
				FieldCommission: "!!!commission!!!", FieldSaleAmount: "!!!transactionAmount!!!",
				FieldCurrency: "!!!transactionCurrency!!!", FieldOccurredAt: "!!!transactionDate!!!"},
			ClickParam: "clickref",
		},

		// Everflow partner postbacks: {macro} placeholders in the partner's
		// postback URL. {transaction_id} is Everflow's unique id of the
		// click the conversion belongs to, {sub1} the sub1 the partner put
		// on the tracking link, {payout_amount} the partner's payout and
		// {sale_amount} the sale. Everflow has no status macro: a
		// conversion postback is a new conversion, pending by default.
		// {event_id} names the kind of event (one id for every conversion
		// of it), so it is no idempotency key.
		"everflow": {
			Fields: map[string]string{FieldOrderID: "transaction_id", FieldClickID: "sub1", FieldCommission: "payout_amount",
				FieldSaleAmount: "sale_amount"},
			Statuses: canonical,
			Defaults: map[string]string{FieldStatus: "pending"},
			Macros: map[string]string{FieldOrderID: "{transaction_id}", FieldClickID: "{sub1}",
				FieldCommission: "{payout_amount}", FieldSaleAmount: "{sale_amount}"},
			ClickParam: "sub1",
		},

		// CJ sends publishers no postback: its Commission Detail API
		// (publisherCommissions) is how a publisher learns of commissions,
		// one record per commission and one more per correction. A relay
		// POSTs each record, as the API returns it, as the JSON body.
		// actionStatus is new or extended (open), locked (final) or closed
		// (prepared for payment); a correction carries correctionReason and
		// the signed change of the amounts, so a negative one is a
		// reversal. Amounts are decimal strings in the publisher's currency,
		// sometimes with more places than it has ("7.781"). shopperId is the
		// sid of the tracking link. commissionId is unique per record, and
		// a record keeps it as its actionStatus moves, so each status of
		// it is an event of its own (EventIDPerStatus).
		"cj": {
			Fields: map[string]string{FieldOrderID: "orderId", FieldEventID: "commissionId", FieldClickID: "shopperId",
				FieldStatus: "actionStatus", FieldReasonCode: "correctionReason", FieldSaleAmount: "saleAmountPubCurrency",
				FieldCommission: "pubCommissionAmountPubCurrency", FieldOccurredAt: "eventDate"},
			Statuses: map[string]string{"new": "pending", "extended": "pending", "locked": "approved", "closed": "approved"},
			Reasons: map[string]string{"INVALID_CREDIT_CARD": "reversed", "RETURNED_MERCHANDISE": "reversed",
				"DUPLICATED_ORDER": "reversed", "CANT_SHIP_OR_SOLD_OUT": "reversed", "UNQUALIFIED_LEAD": "reversed",
				"QUALIFIED_LEAD": "approved", "BAD_DEBT": "reversed", "BANKRUPTCY": "reversed", "COMPLIANCE": "reversed",
				"BOOKING_CANCELED": "reversed"},
			Defaults:         map[string]string{FieldSaleAmount: "0"},
			RoundAmounts:     true,
			NegativeReverses: true,
			EventIDPerStatus: true,
			StatusOrder:      []string{"new", "extended", "locked", "closed"},
			Delivery:         DeliveryJSON,
			ClickParam:       "sid",
		},

		// Rakuten Advertising Postback API: a GET to the publisher's URL
		// with <field> placeholders, which must include is_event=<is_event>;
		// the fields are those of the Events API. Each record is one
		// transaction (etransaction_id, one per SKU of an order), with the
		// u1 of the tracking link; Rakuten sends no status, so a
		// transaction is pending by default.
		"rakuten": {
			Fields: map[string]string{FieldOrderID: "etransaction_id", FieldClickID: "u1", FieldCourseID: "sku_number",
				FieldCommission: "commissions", FieldSaleAmount: "sale_amount", FieldCurrency: "currency",
				FieldOccurredAt: "transaction_date"},
			Statuses: canonical,
			Defaults: map[string]string{FieldStatus: "pending"},
			Macros: map[string]string{FieldOrderID: "<etransaction_id>", FieldClickID: "<u1>", FieldCourseID: "<sku_number>",
				FieldCommission: "<commissions>", FieldSaleAmount: "<sale_amount>", FieldCurrency: "<currency>",
				FieldOccurredAt: "<transaction_date>"},
			ExtraParams: map[string]string{"is_event": "<is_event>"},
			ClickParam:  "u1",
		},

		// PartnerStack partner postbacks: a JSON POST {"event": …, "data":
		// {…}} for each subscribed event (Docs, "Postbacks",
		// https://docs.partnerstack.com/docs/postbacks). The reward's member
		// names are those of PartnerStack's reward object, checked against
		// its Partner API (https://docs.partnerstack.com/docs/partner-api:
		// objects are named by "key", e.g. "rew_1234", and created_at is
		// epoch milliseconds) and its List Rewards parameters (key, amount,
		// status, created_at, decline_reason, customer_key). amount is in
		// cents. Statuses as PartnerStack documents them: the partner sees
		// "pending" until the company reviews the reward; the company side
		// names it "new", "approved", "declined" (with a decline reason),
		// "hold" (under review: still pending) or "paid" (support articles
		// "Reviewing partner rewards", https://support.partnerstack.com/hc/en-us/articles/360009840773,
		// and "How do I get paid?", https://support.partnerstack.com/hc/en-us/articles/360009501113).
		// No documented page found names a currency member; a reward
		// without one is in the partner's currency. PartnerStack reports
		// no sale amount with a reward.
		"partnerstack": {
			Fields: map[string]string{FieldOrderID: "data.key", FieldStatus: "data.status", FieldCommission: "data.amount",
				FieldCurrency: "data.currency", FieldOccurredAt: "data.created_at", FieldReasonCode: "data.decline_reason"},
			Statuses: map[string]string{"pending": "pending", "new": "pending", "hold": "pending",
				"approved": "approved", "paid": "approved", "declined": "reversed"},
			Defaults:   map[string]string{FieldSaleAmount: "0"},
			MinorUnits: true,
			// Every event of a reward carries the reward's created_at, so
			// a late reward_created (pending) would apply after an
			// approval or a decline with the same time and undo it: the
			// order a reward moves through puts each status after the ones
			// before it, a decline after them all (an outside review sent
			// approved, then a late pending, and the ledger went back to
			// pending).
			StatusOrder: []string{"new", "pending", "hold", "approved", "paid"},
			Delivery:    DeliveryJSON,
			// The test PartnerStack's settings send (its documented
			// {"event":"test","data":{"message":"Test event sent!"}}).
			TestEvents: map[string]string{"event": "test"},
		},
	}
}
