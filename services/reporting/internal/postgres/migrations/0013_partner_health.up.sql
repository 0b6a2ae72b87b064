-- Issue 14: partner health. Per partner, the conversions purchased lately
-- and the recent ones that did not join a click (a broken click-id macro
-- shows as a run of them). Both read conversions by partner and purchase
-- time; the second only the unattributed ones.
CREATE INDEX conversions_partner_purchased ON conversions (partner, purchased_at);
CREATE INDEX conversions_unattributed ON conversions (partner, purchased_at DESC) WHERE NOT attributed;
