// Achievements: recent unlocks, and the catalogue with how rare each one is.
'use strict';

nav('achievements.html');

page([
  section('recent', async () => table([
    {
      title: 'Player',
      cell: (r) =>
        el('a', { href: 'player.html?member=' + enc(r.id_member) }, r.member_name || 'member ' + r.id_member),
    },
    { title: 'Achievement', cell: (r) => el('a', { href: '#' + enc(r.code) }, r.name) },
    { title: 'When', cell: (r) => when(r.unlocked_date) },
  ], await api('/achievements/recent?limit=15'), 'No achievement unlocked yet.')),
  section('catalogue', async () => {
    // /achievements/rarest gives the unlock share of the 100 rarest; every other one is at least as common as the
    // least rare of those.
    const [all, rare] = await Promise.all([api('/achievements'), api('/achievements/rarest?limit=100')]);
    const share = new Map(rare.map((a) => [a.code, a]));
    const floor = rare.length ? rare[rare.length - 1].unlock_percent : 0;
    const rarity = (a) =>
      share.has(a.code) ? fmt(share.get(a.code).unlock_percent, 1) + ' %' : 'over ' + fmt(floor, 1) + ' %';
    return table([
      { title: 'Achievement', cell: (a) => el('span', { id: a.code }, a.name) },
      { title: 'What', cell: (a) => a.description },
      { title: 'Category', cell: (a) => a.category },
      { title: 'Points', num: true, cell: (a) => fmt(a.points) },
      { title: 'Members with it', num: true, cell: (a) => rarity(a) },
    ], all.filter((a) => !a.is_hidden), 'The catalogue is empty.');
  }),
]);
