/**
 * UI text in Simplified Chinese (default) and English. Every error code the
 * server can send has a message in both languages: the `Record<ErrorCode, …>`
 * type makes a missing one a compile error.
 */
import type { ErrorCode } from '../../server/protocol/errorCodes.ts';
import type { DisconnectReason } from '../../server/protocol/socketEvents.ts';
import type { Role } from '../../server/protocol/roles.ts';

export type Lang = 'zh-CN' | 'en';

const zh = {
  appName: '会诊 Huizhen',
  tagline: '远程门诊视频会诊',
  langSwitch: 'English',
  home: '首页',
  serverStatus: '服务状态',
  statusReady: '服务正常',
  statusNotReady: '服务未就绪',
  statusUnknown: '正在检查…',
  checkDatabase: '数据库',
  checkObjectStore: '对象存储',
  checkMediaWorkers: '媒体服务',
  selfTest: '设备与网络自检',
  selfTestIntro: '进入会诊前，请先确认摄像头、麦克风和到服务器的音视频通道正常。自检时您的画面会经服务器转发后回传给您自己，不会被他人看到，也不会录制。',
  devLogin: '开发登录',
  devLoginIntro: '仅用于开发和试用环境：选择身份，获取一个短期令牌。正式环境由医院统一身份认证签发令牌。',
  devLoginUnavailable: '本服务器运行在正式环境，开发登录已关闭。请通过医院统一身份认证登录。',
  signedInAs: '当前身份',
  notSignedIn: '尚未登录',
  signOut: '退出',
  role: '角色',
  userId: '用户编号',
  roomId: '会诊室编号（可选）',
  displayName: '显示姓名（可选）',
  getToken: '获取令牌',
  tokenReady: '已登录，令牌有效至',
  goSelfTest: '去做设备与网络自检',
  camera: '摄像头',
  microphone: '麦克风',
  noDevice: '未检测到设备',
  localPreview: '本地预览',
  echoVideo: '经服务器回传的画面',
  micLevel: '麦克风音量',
  startTest: '开始自检',
  stopTest: '结束自检',
  running: '自检进行中…',
  checkCamera: '摄像头画面',
  checkMic: '麦克风声音',
  checkSignaling: '连接会诊服务器',
  checkMedia: '音视频通道（ICE / DTLS-SRTP）',
  checkEcho: '服务器回传视频',
  passed: '正常',
  failed: '异常',
  pending: '待检测',
  framesDecoded: '已解码帧数',
  bitrate: '接收码率',
  roundTrip: '往返时延',
  resolution: '分辨率',
  allPassed: '全部正常，可以进入会诊。',
  someFailed: '有检测项异常，请按提示处理后重试，或联系本院信息科。',
  needLogin: '请先登录后再做自检。',
  permissionDenied: '浏览器未获准使用摄像头或麦克风。请点击地址栏左侧的图标允许访问，然后重试。',
  noMedia: '无法打开摄像头或麦克风：',
  closedBy: '连接已被服务器关闭：',
  connectionLost: '与服务器的连接已断开，正在重试…',
};

type Messages = typeof zh;

const en: Messages = {
  appName: 'Huizhen 会诊',
  tagline: 'Remote outpatient video consultations',
  langSwitch: '中文',
  home: 'Home',
  serverStatus: 'Server status',
  statusReady: 'Ready',
  statusNotReady: 'Not ready',
  statusUnknown: 'Checking…',
  checkDatabase: 'Database',
  checkObjectStore: 'Object storage',
  checkMediaWorkers: 'Media workers',
  selfTest: 'Device and network self-test',
  selfTestIntro: 'Before a consultation, check that your camera, microphone and the audio/video path to the server work. Your picture is sent through the server and back to you only; nobody else sees it and nothing is recorded.',
  devLogin: 'Development sign-in',
  devLoginIntro: 'Development and evaluation only: pick an identity and get a short-lived token. In production the hospital identity service issues tokens.',
  devLoginUnavailable: 'This server runs in production mode; development sign-in is off. Sign in through the hospital identity service.',
  signedInAs: 'Signed in as',
  notSignedIn: 'Not signed in',
  signOut: 'Sign out',
  role: 'Role',
  userId: 'User id',
  roomId: 'Consultation room id (optional)',
  displayName: 'Display name (optional)',
  getToken: 'Get token',
  tokenReady: 'Signed in; token valid until',
  goSelfTest: 'Go to the device and network self-test',
  camera: 'Camera',
  microphone: 'Microphone',
  noDevice: 'No device found',
  localPreview: 'Local preview',
  echoVideo: 'Video returned by the server',
  micLevel: 'Microphone level',
  startTest: 'Start self-test',
  stopTest: 'Stop self-test',
  running: 'Self-test running…',
  checkCamera: 'Camera picture',
  checkMic: 'Microphone sound',
  checkSignaling: 'Connection to the server',
  checkMedia: 'Audio/video path (ICE / DTLS-SRTP)',
  checkEcho: 'Video returned by the server',
  passed: 'OK',
  failed: 'Problem',
  pending: 'Not yet checked',
  framesDecoded: 'Frames decoded',
  bitrate: 'Receive bitrate',
  roundTrip: 'Round-trip time',
  resolution: 'Resolution',
  allPassed: 'Everything works; you can join a consultation.',
  someFailed: 'Some checks failed. Follow the hints and try again, or call the hospital IT department.',
  needLogin: 'Please sign in before running the self-test.',
  permissionDenied: 'The browser may not use the camera or microphone. Click the icon left of the address bar to allow access, then try again.',
  noMedia: 'Cannot open the camera or microphone: ',
  closedBy: 'The server closed the connection: ',
  connectionLost: 'Connection to the server lost; retrying…',
};

const errorMessages: Record<Lang, Record<ErrorCode, string>> = {
  'zh-CN': {
    VALIDATION_FAILED: '请求内容有误，请检查后重试。',
    NOT_FOUND: '请求的内容不存在。',
    INVALID_STATE: '当前状态下不能执行该操作。',
    PAYLOAD_TOO_LARGE: '提交的内容过大。',
    AUTH_TOKEN_MISSING: '请先登录。',
    AUTH_TOKEN_INVALID: '登录凭证无效，请重新登录。',
    AUTH_TOKEN_EXPIRED: '登录已过期，请重新登录。',
    AUTH_TOKEN_NOT_YET_VALID: '登录凭证尚未生效，请检查本机时间是否准确。',
    AUTH_TOKEN_WRONG_AUDIENCE: '登录凭证不是为本系统签发的。',
    AUTH_TOKEN_WRONG_ISSUER: '登录凭证的签发方不受信任。',
    AUTH_CLAIMS_INVALID: '登录凭证内容不完整，请重新登录。',
    FORBIDDEN: '您的角色无权执行该操作。',
    RATE_LIMITED: '操作过于频繁，请稍后再试。',
    MEDIA_UNAVAILABLE: '媒体服务暂时不可用，请稍后重试。',
    SERVICE_UNAVAILABLE: '服务暂时不可用，请稍后重试。',
    INTERNAL: '服务器内部错误，请联系信息科并提供请求编号。',
  },
  en: {
    VALIDATION_FAILED: 'The request is not valid; please check and try again.',
    NOT_FOUND: 'Not found.',
    INVALID_STATE: 'This cannot be done right now.',
    PAYLOAD_TOO_LARGE: 'What you sent is too large.',
    AUTH_TOKEN_MISSING: 'Please sign in.',
    AUTH_TOKEN_INVALID: 'Your sign-in is not valid; please sign in again.',
    AUTH_TOKEN_EXPIRED: 'Your sign-in has expired; please sign in again.',
    AUTH_TOKEN_NOT_YET_VALID: 'Your sign-in is not valid yet; check this computer’s clock.',
    AUTH_TOKEN_WRONG_AUDIENCE: 'Your sign-in was issued for another system.',
    AUTH_TOKEN_WRONG_ISSUER: 'Your sign-in comes from an untrusted issuer.',
    AUTH_CLAIMS_INVALID: 'Your sign-in is incomplete; please sign in again.',
    FORBIDDEN: 'Your role may not do this.',
    RATE_LIMITED: 'Too many attempts; please wait a moment.',
    MEDIA_UNAVAILABLE: 'The media service is unavailable; please try again shortly.',
    SERVICE_UNAVAILABLE: 'The service is unavailable; please try again shortly.',
    INTERNAL: 'Internal server error; please call IT and quote the request id.',
  },
};

const roleNames: Record<Lang, Record<Role, string>> = {
  'zh-CN': {
    host: '主持医生（邀请方）',
    expert: '会诊专家（受邀方）',
    patient: '患者',
    observer: '旁听',
    quality_reviewer: '质控人员',
    records_staff: '病案管理人员',
    approver: '审批人',
    institution_admin: '机构管理员',
  },
  en: {
    host: 'Host doctor (inviting)',
    expert: 'Expert (invited)',
    patient: 'Patient',
    observer: 'Observer',
    quality_reviewer: 'Quality reviewer',
    records_staff: 'Medical records staff',
    approver: 'Approver',
    institution_admin: 'Institution admin',
  },
};

const disconnectReasons: Record<Lang, Record<DisconnectReason, string>> = {
  'zh-CN': { server_shutdown: '服务器正在维护重启', token_expired: '登录已过期', kicked: '您已被主持医生移出' },
  en: { server_shutdown: 'the server is restarting for maintenance', token_expired: 'your sign-in expired', kicked: 'the host removed you' },
};

const STORAGE_KEY = 'huizhen.lang';

export function currentLang(): Lang {
  return localStorage.getItem(STORAGE_KEY) === 'en' ? 'en' : 'zh-CN';
}

export function setLang(lang: Lang): void {
  localStorage.setItem(STORAGE_KEY, lang);
  document.documentElement.lang = lang;
}

export function t(key: keyof Messages): string {
  return (currentLang() === 'en' ? en : zh)[key];
}

export function errorText(code: ErrorCode): string {
  return errorMessages[currentLang()][code];
}

export function roleName(role: Role): string {
  return roleNames[currentLang()][role];
}

export function disconnectText(reason: DisconnectReason): string {
  return disconnectReasons[currentLang()][reason];
}
