// File names, relative to the rendition's playlist. Every name carries the session prefix and a
// number that is never reused within the session, so a file never changes once written (safe to
// cache) and a viewer can never get a previous session's file under a current name.
//   <prefix>-init<run>.mp4   ftyp+moov of ffmpeg run <run> (1, 2, … : a new one after each restart)
//   <prefix>-part<seq>.m4s   one moof+mdat; <seq> counts parts over the whole session from 1
//   <prefix>-seg<msn>.m4s    the concatenation of the segment's parts; <msn> = media sequence number
// Parts are numbered by session, not as <msn>.<index>, because whether the next part starts a new
// segment is only known when it arrives (is it an IDR?); the preload hint names it in advance.
export const fileNames = {
  init: (prefix: string, run: number) => `${prefix}-init${run}.mp4`,
  part: (prefix: string, seq: number) => `${prefix}-part${seq}.m4s`,
  segment: (prefix: string, msn: number) => `${prefix}-seg${msn}.m4s`,
};
