import t from 'tap';
import { PROFILES_DIR } from '../paths.js';
import { loadProfile, parseProfile, ProfileError } from './profiles.js';

t.test('the shipped profiles are valid', async (t) => {
  const def = await loadProfile(PROFILES_DIR, 'default');
  t.same(def.rungs.map((r) => [r.name, r.height, r.videoBitrateKbps]), [['1080p', 1080, 5000], ['720p', 720, 2800], ['480p', 480, 1400], ['360p', 360, 800]]);
  t.equal(def.segmentSeconds, 2);
  t.equal(def.audio.bitrateKbps, 128);
  t.equal((await loadProfile(PROFILES_DIR, 'no-passthrough')).passthroughTopRung, false);
  t.equal((await loadProfile(PROFILES_DIR, 'quality')).x264Params, undefined);
  t.throws(() => parseProfile({ ...def, x264Params: 'bframes=0;rm -rf' }, 'x'), /x264Params is key=value pairs/);
});

t.test('a bad profile is refused with every problem named', async (t) => {
  const def = await loadProfile(PROFILES_DIR, 'default');
  const bad = {
    ...def,
    segmentSeconds: 0,
    extra: true,
    rungs: [def.rungs[1], { ...def.rungs[0], maxrateKbps: 100 }],
  };
  const err = t.throws(() => parseProfile(bad, 'bad.json')) as Error;
  t.ok(err instanceof ProfileError);
  t.match(err.message, /segmentSeconds/);
  t.match(err.message, /extra/);
  t.match(err.message, /maxrateKbps must be at least videoBitrateKbps/);
  t.match(err.message, /from the tallest to the shortest/);
  t.throws(() => parseProfile({ ...def, rungs: [{ ...def.rungs[0], height: 721 }] }, 'x'), /height must be even/);
  t.throws(() => parseProfile({ ...def, rungs: [def.rungs[0], def.rungs[0]] }, 'x'));
});

t.test('missing, malformed and misnamed profiles', async (t) => {
  await t.rejects(loadProfile(PROFILES_DIR, 'nope'), /does not exist/);
  await t.rejects(loadProfile(PROFILES_DIR, '../etc'), /not a valid profile name/);
});
