/**
 * Narcotic and psychotropic medicines may not be prescribed online
 * (互联网诊疗管理办法 第十九条). Huizhen has no drug dictionary of its own;
 * this list of common generic names (Chinese and English) catches the usual
 * ones in a prescription item's drug field. A hospital connecting its drug
 * dictionary would flag controlled items from there instead.
 */
const CONTROLLED = [
  // Narcotics (麻醉药品)
  '吗啡', 'morphine', '芬太尼', 'fentanyl', '舒芬太尼', 'sufentanil', '瑞芬太尼', 'remifentanil', '哌替啶', 'pethidine', 'meperidine',
  '羟考酮', 'oxycodone', '氢吗啡酮', 'hydromorphone', '美沙酮', 'methadone', '可待因', 'codeine', '丁丙诺啡', 'buprenorphine', '布桂嗪', 'bucinnazine',
  '二氢埃托啡', 'dihydroetorphine', '可卡因', 'cocaine', '氯胺酮', 'ketamine',
  // Psychotropics (精神药品)
  '曲马多', 'tramadol', '地西泮', 'diazepam', '阿普唑仑', 'alprazolam', '艾司唑仑', 'estazolam', '氯硝西泮', 'clonazepam', '劳拉西泮', 'lorazepam',
  '咪达唑仑', 'midazolam', '三唑仑', 'triazolam', '唑吡坦', 'zolpidem', '佐匹克隆', 'zopiclone', '右佐匹克隆', 'eszopiclone', '扎来普隆', 'zaleplon',
  '苯巴比妥', 'phenobarbital', '哌甲酯', 'methylphenidate', '莫达非尼', 'modafinil', '丁丙诺啡', '喷他佐辛', 'pentazocine', 'γ-羟丁酸', 'oxybate',
];

/** The controlled substance a drug name names, if any. */
export function controlledSubstance(drug: string): string | null {
  const name = drug.toLowerCase();
  return CONTROLLED.find((c) => name.includes(c.toLowerCase())) ?? null;
}
