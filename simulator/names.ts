// Word lists for a plausible Chinese county: surnames by frequency, given names of people born in
// the 1930s–50s, old residential compounds (老旧小区) of factories and work units, streets.
import type { Rng } from './prng.ts';

// The most common surnames first; picking with a skew towards the front mimics their frequency.
const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '徐', '孙', '马', '朱', '胡', '郭', '何', '高', '林', '罗', '郑', '梁', '谢', '宋', '唐', '许', '韩', '冯', '邓', '曹', '彭', '曾', '肖', '田', '董', '袁', '潘', '于', '蒋', '蔡'];
const ELDER_GIVEN_F = ['秀英', '桂英', '秀兰', '玉兰', '桂兰', '凤英', '淑珍', '玉珍', '秀珍', '翠花', '淑英', '桂芳', '玉梅', '素芬', '月娥', '兰英', '金凤', '慧芳'];
const ELDER_GIVEN_M = ['建国', '国华', '德明', '志强', '永福', '长顺', '树林', '宝山', '振华', '文斌', '福生', '有才', '庆丰', '金海', '玉林', '世荣', '胜利', '卫东'];
const YOUNG_GIVEN = ['伟', '静', '敏', '磊', '丽', '强', '军', '洋', '艳', '勇', '杰', '娟', '涛', '明', '超', '霞', '平', '刚', '婷', '鹏'];

export const COUNTIES = ['清河县', '安平县', '临泉县', '永和县', '德安县', '长丰县', '宁远县', '平山县'];
const STREETS = ['人民路', '解放路', '建设路', '胜利街', '和平路', '中山路', '工农路', '新华街', '文化路', '朝阳路', '东风路', '光明街'];
const OLD_COMPOUNDS = ['幸福小区', '纺织厂宿舍', '机械厂家属院', '建设新村', '红旗小区', '粮食局宿舍', '供电局家属院', '化肥厂生活区', '东风小区', '和平里', '向阳小区', '工人新村', '铁路新村', '电影院宿舍', '百货大楼家属院'];
const MODERN_COMPOUNDS = ['锦绣花园', '金色家园', '滨江华府', '翰林苑', '阳光城', '御景湾'];
const BUSINESSES = ['华联超市', '新世纪商厦', '县人民医院', '县第一中学', '福临门大酒店', '鑫源纺织有限公司', '县汽车客运站', '金鼎商业广场'];
const RELATIONS = ['儿子', '女儿', '儿媳', '女婿', '侄子', '外甥女', '邻居'];

export function surname(rng: Rng): string {
  // Skewed towards the head of the list: rng² biases indices low.
  const i = Math.floor(rng.next() ** 2 * SURNAMES.length);
  return SURNAMES[i]!;
}

export function elderName(rng: Rng): { name: string; female: boolean } {
  const female = rng.chance(0.62); // women outlive men: most elderly people living alone are women
  return { name: surname(rng) + rng.pick(female ? ELDER_GIVEN_F : ELDER_GIVEN_M), female };
}

export function youngName(rng: Rng, family?: string): string {
  const given = rng.chance(0.5) ? rng.pick(YOUNG_GIVEN) : rng.pick(YOUNG_GIVEN) + rng.pick(YOUNG_GIVEN);
  return (family ?? surname(rng)) + given;
}

/** A mainland mobile number (fictional: drawn from the seeded PRNG). */
export function mobile(rng: Rng): string {
  const prefix = rng.pick(['138', '139', '135', '136', '150', '151', '158', '186', '187', '189', '177', '199']);
  let rest = '';
  for (let i = 0; i < 8; i++) rest += String(rng.int(0, 9));
  return prefix + rest;
}

export const pickStreet = (rng: Rng): string => rng.pick(STREETS);
export const pickOldCompound = (rng: Rng): string => rng.pick(OLD_COMPOUNDS);
export const pickModernCompound = (rng: Rng): string => rng.pick(MODERN_COMPOUNDS);
export const pickRelation = (rng: Rng): string => rng.pick(RELATIONS);
export { BUSINESSES, OLD_COMPOUNDS, MODERN_COMPOUNDS };

/** Pinyin-free ASCII handle for e-mail local parts: the person's id is used instead of their name. */
export function emailOf(id: string, domain = 'example.com'): string {
  return `${id.toLowerCase().replace(/[^a-z0-9.-]/g, '.')}@${domain}`;
}
