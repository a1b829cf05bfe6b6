-- A member gone from the forum. authd_login decides a login before the forum is asked, so when authd then finds
-- no smf_members row for the member (deleted on the forum, whose member ids are never reused), the login has
-- already been recorded as a success, and a first login has trusted the player's address. This puts that right
-- and makes sure no later login of the member gets as far as the forum:
-- - the login that found it out is recorded as failed, reason member_deleted;
-- - the member's codes are revoked (a later login is token_revoked) and trusted addresses dropped;
-- - open approval requests are closed (expired: nobody is left to decide them).
CREATE OR REPLACE FUNCTION authd_member_gone(p_member integer, p_token_hash text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE login_token_history h SET success = false, failure_reason = 'member_deleted'
     WHERE h.id = (SELECT max(x.id)
                     FROM login_token_history x
                     JOIN login_tokens t ON t.id = x.login_token_id
                    WHERE t.token_hash = p_token_hash AND x.forum_user_id = p_member AND x.success);
    UPDATE login_tokens l SET is_active = false, revoked_at = coalesce(l.revoked_at, now())
     WHERE l.forum_user_id = p_member AND l.is_active;
    UPDATE trusted_ips ti SET is_active = false, revoked_at = now()
     WHERE ti.forum_user_id = p_member AND ti.is_active;
    UPDATE pending_ip_approvals p SET status = 'expired', decided_at = now()
     WHERE p.forum_user_id = p_member AND p.status = 'pending';
END
$$;
