/* Reading raw_events TabSeparated rows back: the inverse of ch_append_tsv, column by column. */
#include "raw_row.h"

#include <errno.h>
#include <string.h>

#include "text.h"

const char raw_row_columns[] =
    "event_id, batch_id, server_id, received_at, received_ms, game_time, session_id, match_key, map_name, "
    "event_type, type_sent, known_type, "
    "actor_guid, actor_name, actor_team, actor_smf_id, actor_x, actor_y, actor_z, actor_pitch, actor_yaw, "
    "actor_stance, "
    "target_guid, target_name, target_team, target_smf_id, target_x, target_y, target_z, target_pitch, "
    "target_yaw, target_stance, "
    "weapon, old_weapon, means_of_death, hitloc, damage, distance, total_distance, amount, message, item, team, "
    "gametype, round_number, allies_score, axis_score, player_count, unknown_fields, raw, actor_country";

int raw_row_split(char *line, size_t len, char *f[RC__COUNT], unsigned char null[RC__COUNT])
{
    size_t col = 0, i = 0;
    while (col < RC__COUNT) {
        char *start = line + i, *o = start;
        int was_null = (len - i >= 2 && line[i] == '\\' && line[i + 1] == 'N' && (len - i == 2 || line[i + 2] == '\t'));
        if (was_null)
            i += 2;
        while (!was_null && i < len && line[i] != '\t') {
            if (line[i] == '\\' && i + 1 < len) {
                *o++ = tsv_unescape_char(line[i + 1]);
                i += 2;
            } else {
                *o++ = line[i++];
            }
        }
        if (was_null)
            o = start;
        f[col] = start;
        if (null)
            null[col] = (unsigned char)was_null;
        col++;
        if (i == len) {
            *o = '\0';
            break;
        }
        /* line[i] is the tab: the terminator of this field takes its place (o <= line + i). */
        *o = '\0';
        i++;
    }
    if (col == RC__COUNT - 1 && i == len) {
        /* The format before actor_country: the missing column is empty (line[len], the NUL, stands in for it). */
        f[RC_ACTOR_COUNTRY] = line + len;
        if (null)
            null[RC_ACTOR_COUNTRY] = 0;
        return 0;
    }
    return col == RC__COUNT && i == len ? 0 : -EINVAL;
}

bool raw_row_previous_format(const char *rows, size_t len)
{
    const char *end = memchr(rows, '\n', len);
    size_t tabs = 0;
    for (const char *p = rows; p < end; p++)
        tabs += *p == '\t';
    /* A raw tab never appears inside a field (ch_append_tsv escapes it), so tabs + 1 is the column count. */
    return end && tabs + 1 == RC__COUNT - 1;
}
