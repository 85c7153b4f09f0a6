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
  // Consultation room
  room: '会诊室',
  roomIntro: '请确认摄像头和麦克风正常后进入会诊室。除主持医生外，其他参会人需经主持医生准许后方可进入。',
  roomLabel: '会诊室编号',
  noRoomInToken: '您的登录凭证未指定会诊室，无法进入。',
  joinRoom: '进入会诊室',
  joining: '正在进入…',
  waitingForAdmission: '已到达候诊区，正在等待主持医生准许进入…',
  waitingNoHost: '主持医生尚未进入会诊室，请稍候。',
  cancel: '取消',
  denied: '主持医生未准许您进入本次会诊。',
  leave: '离开',
  endVisit: '结束会诊',
  endVisitConfirm: '确定结束本次会诊？结束后所有人将离开会诊室，且无法再次进入。',
  mute: '静音',
  unmute: '取消静音',
  cameraOff: '关闭摄像头',
  cameraOn: '打开摄像头',
  shareScreen: '共享屏幕',
  stopShare: '停止共享',
  participants: '参会人',
  lobby: '候诊区',
  admit: '准许进入',
  deny: '拒绝',
  remove: '移出',
  removeConfirm: '确定将该参会人移出会诊室？',
  nobodyWaiting: '无人等候',
  chat: '文字交流',
  chatPlaceholder: '输入消息，按回车发送',
  send: '发送',
  you: '我',
  screenOf: '的屏幕',
  muted: '已静音',
  videoPausedNetwork: '网络较差，视频已暂停以保证通话',
  networkQuality: '网络质量',
  recordingOn: '正在录制',
  recordingOff: '未录制',
  reconnecting: '网络中断，正在重新连接…',
  reconnected: '已重新连接',
  mediaResetting: '媒体服务切换中，正在恢复音视频…',
  roomClosedEnded: '本次会诊已结束。',
  roomClosedShutdown: '服务器正在维护，会诊已中断。请稍后重新进入。',
  youWereRemoved: '您已被主持医生移出会诊室。',
  youWereReplaced: '您已在另一台设备上进入本会诊室，此页面已断开。',
  youLeft: '您已离开会诊室。',
  connectionLostLeft: '网络中断时间过长，您已离开会诊室。可重新进入，需再经主持医生准许。',
  tokenExpired: '登录已过期，请重新登录后进入。',
  sessionExpiringSoon: '登录即将过期，正在续期…',
  rejoin: '重新进入',
  backHome: '返回首页',
  activeSpeaker: '正在发言',
  recordingSection: '录音录像',
  consentNone: '尚未取得患者录制同意',
  consentGivenInApp: '患者已在本应用中同意录制',
  consentGivenVerbal: '主持医生已记录患者口头同意',
  consentGivenWritten: '主持医生已记录患者书面同意',
  consentAsk: '本次会诊需要录音录像，请阅读以下说明：',
  agreeToRecord: '我同意录制',
  withdrawConsent: '撤回同意',
  withdrawConsentConfirm: '撤回后录制将立即停止。确定撤回录制同意？',
  recordVerbalConsent: '记录患者口头同意',
  recordVerbalConsentConfirm: '请向患者宣读录制说明。患者已口头同意录制？',
  noPatientPresent: '患者不在会诊室，无法记录同意。',
  startRecording: '开始录制',
  stopRecording: '停止录制',
  recordingSince: '录制开始于',
  // Back office: recordings review, playback approval, the player
  review: '录像调阅',
  reviewCardIntro: '查看会诊录像目录，申请回放并跟踪审批进度。',
  reviewIntro: '会诊录像加密保存，不能下载。回放须按医院规定逐级审批；获批后仅限申请人本人在有效期内观看，次数有限。播放画面带有观看者姓名水印，每次播放均记入审计日志。',
  approvals: '回放审批',
  approvalsCardIntro: '逐级审批录像回放申请，复核紧急调阅，必要时撤销授权。',
  approvalsIntro: '请按本级职责审核调阅目的是否正当。按职责分离原则，申请人本人、参与被录制会诊的人员以及已审批过其他级别的人员，不能审批同一申请。每项决定均经服务器签名并记入审计日志。',
  player: '录像回放',
  backOfficeOnly: '此页面供质控、病案管理和审批人员使用，请以相应身份登录。',
  loading: '正在加载…',
  loadFailed: '加载失败：',
  recordingsHeading: '会诊录像',
  noRecordings: '暂无已完成的会诊录像。',
  colRecordedAt: '录制时间',
  colDuration: '时长',
  colDepartment: '科室',
  colCategories: '敏感类别',
  colParticipants: '参会人',
  colStatus: '录像状态',
  colLegalHold: '法律保全',
  colActions: '操作',
  recComplete: '完整',
  recInterrupted: '录制中断',
  recRecording: '录制中',
  recFinalizing: '处理中',
  recDestroyed: '已销毁',
  legalHoldOn: '保全中',
  noneMark: '—',
  noDepartment: '未登记',
  requestPlayback: '申请回放',
  breakGlass: '紧急调阅',
  requestOpen: '已申请',
  requestFormTitle: '申请回放',
  purpose: '调阅目的',
  purposeHint: '例如：医疗质量检查、投诉或纠纷处理、病历复核（4–500 字）',
  caseReference: '病案号或事件编号',
  caseReferenceHint: '例如：住院号、门诊号、投诉编号',
  requestFormNote: '提交后由各级审批人依次审批，审批进度可在“我的申请”中查看。获批后仅限您本人观看。',
  submitRequest: '提交申请',
  requestSubmitted: '申请已提交，请等待审批。',
  breakGlassWarning: '紧急调阅仅用于危及患者安全、不能等待逐级审批的紧急情况。调阅立即生效，但有效期较短；此次调阅将被标记并记入审计日志，事后由医务处逐一复核，无正当理由的调阅将被追究责任。',
  breakGlassReason: '紧急调阅理由',
  breakGlassReasonHint: '请说明紧急情况（至少 10 个字）',
  breakGlassConfirm: '确认紧急调阅',
  breakGlassDone: '紧急调阅已生效，可在“我的申请”中立即播放。此次调阅已标记，将由医务处复核。',
  recordingOf: '录像',
  myRequests: '我的申请',
  noMyRequests: '您还没有提交过回放申请。',
  statusPending: '待审批',
  statusGranted: '已批准',
  statusDenied: '已驳回',
  statusExpired: '已过期',
  statusRevoked: '已撤销',
  requester: '申请人',
  submittedAt: '提交时间',
  requestExpiresAt: '申请有效至',
  grantExpiresAt: '授权有效至',
  plays: '播放次数',
  playsUsed: '已用 {used} 次，共 {max} 次',
  play: '播放',
  withdraw: '撤回申请',
  endGrantEarly: '提前结束授权',
  withdrawReason: '撤回原因',
  confirmWithdraw: '确认撤回',
  tierProgress: '审批进度',
  tierApproved: '已同意',
  tierDenied: '已驳回',
  tierAwaiting: '审批中',
  tierNotYet: '未开始',
  tierNotDecided: '未审批',
  endReasonRevoked: '撤销原因',
  endedByWho: '操作人',
  reviewAwaiting: '待{tier}复核（{due} 前）',
  reviewJustified: '复核结论：有正当理由',
  reviewUnjustified: '复核结论：无正当理由',
  reasonTooShort: '请填写原因（至少 {min} 个字）。',
  textTooShort: '“{field}”至少需要 {min} 个字。',
  // Approvals
  queueHeading: '待我处理',
  noQueue: '暂无需要您处理的申请。',
  decideAs: '您以“{tier}”身份审批',
  tierDecision: '“{tier}”审批',
  comment: '审批意见',
  commentHint: '同意时可不填；驳回时必须填写理由',
  approve: '同意',
  reject: '驳回',
  rejectNeedsComment: '驳回须填写理由（至少 2 个字）。',
  decisionSaved: '审批意见已提交。',
  blockedTitle: '您不能审批此申请',
  sodRequester: '您是此申请的申请人，须由他人审批。',
  sodParticipant: '您参与了被录制的会诊，不能审批其回放。',
  sodOtherTier: '您已审批过此申请的另一级，每一级须由不同人员审批。',
  breakGlassReviewAs: '紧急调阅复核（{tier}）',
  breakGlassBy: '紧急调阅人',
  breakGlassAt: '调阅时间',
  justified: '有正当理由',
  unjustified: '无正当理由',
  reviewComment: '复核意见',
  reviewCommentHint: '必填，至少 2 个字',
  reviewSaved: '复核结论已提交。',
  oversightHeading: '授权监督',
  oversightIntro: '以下为您有权撤销的进行中申请和有效授权。撤销立即生效，正在进行的播放会随即停止。',
  noOversight: '暂无进行中的申请或有效授权。',
  revokeGrant: '撤销授权',
  revokeRequest: '撤销申请',
  colRequest: '申请',
  colState: '状态',
  colProgress: '进度与期限',
  progressPending: '{tier}审批中（第 {n}/{total} 级）',
  progressGranted: '{total} 级均已同意',
  revokeReason: '撤销原因',
  confirmRevoke: '确认撤销',
  revoked: '已撤销。',
  // Player
  noRequestParam: '缺少申请编号，请从“录像调阅”页面进入。',
  startPlayback: '开始播放',
  startAgain: '重新开始播放',
  startPlaybackNote: '每次开始播放将使用 1 次播放机会（已用 {used} 次，共 {max} 次）。画面带有您的姓名水印，播放过程记入审计日志。',
  notPlayableNow: '此申请当前不能播放：',
  grantRevokedStop: '授权已撤销，播放已停止。',
  grantExpiredStop: '授权已过期，播放已停止。',
  sessionEndedStop: '播放会话已结束。如需再次观看，请重新开始播放。',
  playbackInterrupted: '播放中断，请返回后重试。',
  endViewing: '结束观看',
  fullscreen: '全屏',
  exitFullscreen: '退出全屏',
  backToReview: '返回录像调阅',
  watermark: '水印',
  viewer: '观看人',
  // Development sign-in and identity
  department: '科室（后台人员，可选）',
  positions: '职务（审批与紧急调阅用，可选）',
  backOfficeFields: '后台人员的科室和职务由医院人事目录提供；此处仅用于试用。',
  sensitiveCategories: '敏感类别（如适用请勾选）',


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
  room: 'Consultation room',
  roomIntro: 'Check your camera and microphone, then enter the consultation room. Everyone except the host doctor waits until the host admits them.',
  roomLabel: 'Room',
  noRoomInToken: 'Your sign-in names no consultation room.',
  joinRoom: 'Enter the room',
  joining: 'Entering…',
  waitingForAdmission: 'You are in the waiting area; the host doctor will let you in…',
  waitingNoHost: 'The host doctor has not arrived yet; please wait.',
  cancel: 'Cancel',
  denied: 'The host doctor did not admit you to this consultation.',
  leave: 'Leave',
  endVisit: 'End visit',
  endVisitConfirm: 'End this consultation? Everyone leaves the room and it cannot be entered again.',
  mute: 'Mute',
  unmute: 'Unmute',
  cameraOff: 'Stop camera',
  cameraOn: 'Start camera',
  shareScreen: 'Share screen',
  stopShare: 'Stop sharing',
  participants: 'Participants',
  lobby: 'Waiting area',
  admit: 'Admit',
  deny: 'Deny',
  remove: 'Remove',
  removeConfirm: 'Remove this participant from the room?',
  nobodyWaiting: 'Nobody is waiting',
  chat: 'Chat',
  chatPlaceholder: 'Type a message and press Enter',
  send: 'Send',
  you: 'You',
  screenOf: '’s screen',
  muted: 'Muted',
  videoPausedNetwork: 'Poor network: video paused to keep the voice',
  networkQuality: 'Network quality',
  recordingOn: 'Recording',
  recordingOff: 'Not recording',
  reconnecting: 'Connection lost; reconnecting…',
  reconnected: 'Reconnected',
  mediaResetting: 'Switching media server; restoring audio and video…',
  roomClosedEnded: 'This consultation has ended.',
  roomClosedShutdown: 'The server is under maintenance and the consultation was interrupted. Please enter again later.',
  youWereRemoved: 'The host doctor removed you from the room.',
  youWereReplaced: 'You entered this room on another device; this page is disconnected.',
  youLeft: 'You left the room.',
  connectionLostLeft: 'The connection was down too long and you left the room. You can enter again; the host will admit you.',
  tokenExpired: 'Your sign-in expired; sign in again to enter.',
  sessionExpiringSoon: 'Your sign-in is about to expire; renewing…',
  rejoin: 'Enter again',
  backHome: 'Back to home',
  activeSpeaker: 'Speaking',
  recordingSection: 'Recording',
  consentNone: 'No consent to record from the patient yet',
  consentGivenInApp: 'The patient agreed to recording in the app',
  consentGivenVerbal: 'The host recorded the patient’s verbal consent',
  consentGivenWritten: 'The host recorded the patient’s written consent',
  consentAsk: 'This consultation is to be recorded. Please read:',
  agreeToRecord: 'I agree to recording',
  withdrawConsent: 'Withdraw consent',
  withdrawConsentConfirm: 'Recording stops at once. Withdraw your consent to recording?',
  recordVerbalConsent: 'Record patient’s verbal consent',
  recordVerbalConsentConfirm: 'Read the recording notice to the patient. Has the patient agreed verbally?',
  noPatientPresent: 'The patient is not in the room; consent cannot be recorded.',
  startRecording: 'Start recording',
  stopRecording: 'Stop recording',
  recordingSince: 'Recording since',
  review: 'Recording review',
  reviewCardIntro: 'Browse the consultation recordings, request playback and follow the approvals.',
  reviewIntro: 'Consultation recordings are stored encrypted and cannot be downloaded. Playing one back needs approval tier by tier, as hospital rules require; once granted, only the requester may watch, within a time window and a limited number of plays. The picture carries the viewer\'s name as a watermark, and every play is recorded in the audit trail.',
  approvals: 'Playback approvals',
  approvalsCardIntro: 'Decide playback requests tier by tier, review break-glass accesses and revoke grants when needed.',
  approvalsIntro: 'Check, for your tier, that the purpose justifies playback. By separation of duties, the requester, anyone who took part in the recorded visit, and anyone who decided another tier cannot decide this request. Every decision is signed by the server and recorded in the audit trail.',
  player: 'Recording playback',
  backOfficeOnly: 'This page is for quality, medical-records and approving staff; please sign in with such an account.',
  loading: 'Loading…',
  loadFailed: 'Could not load: ',
  recordingsHeading: 'Consultation recordings',
  noRecordings: 'No finished consultation recordings yet.',
  colRecordedAt: 'Recorded',
  colDuration: 'Duration',
  colDepartment: 'Department',
  colCategories: 'Sensitive categories',
  colParticipants: 'Participants',
  colStatus: 'Recording',
  colLegalHold: 'Legal hold',
  colActions: 'Actions',
  recComplete: 'Complete',
  recInterrupted: 'Interrupted',
  recRecording: 'Recording',
  recFinalizing: 'Finalising',
  recDestroyed: 'Destroyed',
  legalHoldOn: 'On hold',
  noneMark: '—',
  noDepartment: 'Not recorded',
  requestPlayback: 'Request playback',
  breakGlass: 'Break-glass access',
  requestOpen: 'Requested',
  requestFormTitle: 'Request playback',
  purpose: 'Purpose',
  purposeHint: 'E.g. quality audit, complaint or dispute, medical record review (4–500 characters)',
  caseReference: 'Case or incident reference',
  caseReferenceHint: 'E.g. inpatient or outpatient number, complaint number',
  requestFormNote: 'Approvers decide your request tier by tier; follow it under “My requests”. Once granted, only you may watch.',
  submitRequest: 'Submit request',
  requestSubmitted: 'Request submitted; waiting for approval.',
  breakGlassWarning: 'Break-glass access is only for emergencies that endanger a patient and cannot wait for approval. It takes effect at once, for a short time; the access is flagged in the audit trail and reviewed afterwards by the medical affairs office. Access without good reason has consequences.',
  breakGlassReason: 'Reason for break-glass access',
  breakGlassReasonHint: 'Describe the emergency (at least 10 characters)',
  breakGlassConfirm: 'Open with break-glass',
  breakGlassDone: 'Break-glass access granted; you can play the recording now under “My requests”. The access is flagged and will be reviewed by medical affairs.',
  recordingOf: 'Recording',
  myRequests: 'My requests',
  noMyRequests: 'You have not requested any playback yet.',
  statusPending: 'Awaiting approval',
  statusGranted: 'Granted',
  statusDenied: 'Denied',
  statusExpired: 'Expired',
  statusRevoked: 'Revoked',
  requester: 'Requester',
  submittedAt: 'Submitted',
  requestExpiresAt: 'Request valid until',
  grantExpiresAt: 'Grant valid until',
  plays: 'Plays',
  playsUsed: '{used} of {max} used',
  play: 'Play',
  withdraw: 'Withdraw request',
  endGrantEarly: 'End grant early',
  withdrawReason: 'Reason for withdrawing',
  confirmWithdraw: 'Withdraw',
  tierProgress: 'Approval progress',
  tierApproved: 'Approved',
  tierDenied: 'Denied',
  tierAwaiting: 'Awaiting decision',
  tierNotYet: 'Not yet',
  tierNotDecided: 'Not decided',
  endReasonRevoked: 'Reason for revocation',
  endedByWho: 'By',
  reviewAwaiting: 'Awaiting review by {tier} (due {due})',
  reviewJustified: 'Review: justified',
  reviewUnjustified: 'Review: not justified',
  reasonTooShort: 'Please give a reason (at least {min} characters).',
  textTooShort: '“{field}” needs at least {min} characters.',
  queueHeading: 'For me to decide',
  noQueue: 'Nothing is waiting for you.',
  decideAs: 'You decide as “{tier}”',
  tierDecision: 'Decision of “{tier}”',
  comment: 'Comment',
  commentHint: 'Optional when approving; required when denying',
  approve: 'Approve',
  reject: 'Deny',
  rejectNeedsComment: 'A denial needs a reason (at least 2 characters).',
  decisionSaved: 'Decision recorded.',
  blockedTitle: 'You cannot decide this request',
  sodRequester: 'You made this request; someone else must decide it.',
  sodParticipant: 'You took part in the recorded visit; you cannot approve its playback.',
  sodOtherTier: 'You already decided another tier of this request; each tier needs a different person.',
  breakGlassReviewAs: 'Break-glass review ({tier})',
  breakGlassBy: 'Opened by',
  breakGlassAt: 'Opened at',
  justified: 'Justified',
  unjustified: 'Not justified',
  reviewComment: 'Review comment',
  reviewCommentHint: 'Required, at least 2 characters',
  reviewSaved: 'Review recorded.',
  oversightHeading: 'Oversight',
  oversightIntro: 'Open requests and active grants you may revoke. Revocation takes effect at once; a play in progress stops.',
  noOversight: 'No open requests or active grants.',
  revokeGrant: 'Revoke grant',
  revokeRequest: 'Revoke request',
  colRequest: 'Request',
  colState: 'Status',
  colProgress: 'Progress and validity',
  progressPending: 'Awaiting {tier} (tier {n} of {total})',
  progressGranted: 'All {total} tiers approved',
  revokeReason: 'Reason for revoking',
  confirmRevoke: 'Revoke now',
  revoked: 'Revoked.',
  noRequestParam: 'No request given; open the player from “Recording review”.',
  startPlayback: 'Start playback',
  startAgain: 'Start again',
  startPlaybackNote: 'Each start uses one play ({used} of {max} used so far). The picture carries your name as a watermark; the play is recorded in the audit trail.',
  notPlayableNow: 'This request cannot be played now: ',
  grantRevokedStop: 'The grant was revoked; playback stopped.',
  grantExpiredStop: 'The grant has expired; playback stopped.',
  sessionEndedStop: 'The play session has ended. Start playback again to watch once more.',
  playbackInterrupted: 'Playback was interrupted; go back and try again.',
  endViewing: 'Stop watching',
  fullscreen: 'Full screen',
  exitFullscreen: 'Exit full screen',
  backToReview: 'Back to recording review',
  watermark: 'Watermark',
  viewer: 'Viewer',
  department: 'Department (back-office staff, optional)',
  positions: 'Positions (approval and break-glass, optional)',
  backOfficeFields: 'Departments and positions of back-office staff come from the hospital\'s staff directory; here they are for trying things out.',
  sensitiveCategories: 'Sensitive categories (tick any that apply)',


};

const errorMessages: Record<Lang, Record<ErrorCode, string>> = {
  'zh-CN': {
    VALIDATION_FAILED: '请求内容有误，请检查后重试。',
    NOT_FOUND: '请求的内容不存在。',
    INVALID_STATE: '当前状态下不能执行该操作。',
    PAYLOAD_TOO_LARGE: '提交的内容过大。',
    CONSENT_REQUIRED: '尚未取得患者对录音录像的同意，不能开始录制。',
    REQUEST_DECIDED: '该申请已有结论，不能再处理。',
    REQUEST_EXPIRED: '该申请已过期。',
    REQUEST_REVOKED: '该申请已撤销。',
    TIER_OUT_OF_ORDER: '须按审批顺序逐级审批：上一级尚未同意。',
    SEPARATION_OF_DUTIES: '职责分离：申请人、本次会诊的参与者或已审批过一级的人员不能审批此申请。',
    NOT_TIER_APPROVER: '您不具备这一级审批所需的职务或科室。',
    GRANT_NOT_ACTIVE: '回放尚未获批准。',
    GRANT_EXPIRED: '回放授权已过期。',
    GRANT_REVOKED: '回放授权已被撤销。',
    GRANT_EXHAUSTED: '回放次数已用完。',
    PRACTITIONER_NOT_VERIFIED: '医师尚未通过实名认证或已被暂停执业，不能参与诊疗。',
    DEPARTMENT_NOT_COVERED: '该科室不在双方机构的诊疗科目或合作协议范围内。',
    FOLLOW_UP_ONLY: '互联网诊疗仅限复诊：须上传至少一份既往诊断资料（门诊病历、住院病历、出院小结或诊断证明）。',
    NOT_ACCEPTED: '接诊后才可查看患者病历和既往会诊。',
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
    CONSENT_REQUIRED: 'The patient has not consented to recording; recording cannot start.',
    REQUEST_DECIDED: 'This request has already been decided.',
    REQUEST_EXPIRED: 'This request has expired.',
    REQUEST_REVOKED: 'This request was revoked.',
    TIER_OUT_OF_ORDER: 'Tiers approve in order: the previous tier has not approved yet.',
    SEPARATION_OF_DUTIES: 'Separation of duties: the requester, participants of the visit and anyone who approved another tier cannot approve this request.',
    NOT_TIER_APPROVER: 'You do not hold the position or department this tier requires.',
    GRANT_NOT_ACTIVE: 'Playback has not been approved.',
    GRANT_EXPIRED: 'The playback grant has expired.',
    GRANT_REVOKED: 'The playback grant was revoked.',
    GRANT_EXHAUSTED: 'All plays of this grant have been used.',
    PRACTITIONER_NOT_VERIFIED: 'The practitioner is not real-name verified, or is suspended, and cannot take part in care.',
    DEPARTMENT_NOT_COVERED: 'This department is outside the institutions’ approved departments or their cooperation agreement.',
    FOLLOW_UP_ONLY: 'Internet consultations are follow-ups only: upload at least one prior diagnosis document (outpatient or inpatient record, discharge summary, diagnosis certificate).',
    NOT_ACCEPTED: 'The patient’s records and past consultations open only after the consultation is accepted.',
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

/** `t()` with `{name}` placeholders filled in. */
export function tf(key: keyof Messages, values: Record<string, string | number>): string {
  return t(key).replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

/** A label the server sends in both languages (approval tiers). */
export function pick(label: { 'zh-CN': string; en: string }): string {
  return label[currentLang()];
}

/**
 * Sensitive categories of a visit (ids from recordings-config/approval.jsonc).
 * An id the hospital added later shows as itself until it is translated here.
 */
export const SENSITIVE_CATEGORIES = ['minor', 'psychiatry', 'infectious_disease'] as const;

const categoryNames: Record<Lang, Record<string, string>> = {
  'zh-CN': { minor: '未成年人', psychiatry: '精神心理', infectious_disease: '法定传染病' },
  en: { minor: 'Minor', psychiatry: 'Psychiatry', infectious_disease: 'Notifiable infectious disease' },
};

/** Items of a list as each language writes them. */
export function joinList(items: readonly string[]): string {
  return items.join(currentLang() === 'en' ? ', ' : '、');
}

/** Text in parentheses, full-width in Chinese. */
export function paren(text: string): string {
  return currentLang() === 'en' ? ` (${text})` : `（${text}）`;
}

/** "label: text", with the colon each language uses. */
export function labelled(label: string, text: string): string {
  return currentLang() === 'en' ? `${label}: ${text}` : `${label}：${text}`;
}

export function categoryName(id: string): string {
  return categoryNames[currentLang()][id] ?? id;
}

/** Common department ids of the staff directory; others show as their id. */
export const DEPARTMENTS = [
  'cardiology', 'respiratory', 'gastroenterology', 'neurology', 'endocrinology', 'nephrology', 'general_surgery', 'orthopedics',
  'obstetrics_gynecology', 'pediatrics', 'psychiatry', 'infectious_diseases', 'oncology', 'emergency', 'general_practice',
] as const;

const departmentNames: Record<Lang, Record<string, string>> = {
  'zh-CN': {
    cardiology: '心血管内科', respiratory: '呼吸内科', gastroenterology: '消化内科', neurology: '神经内科', endocrinology: '内分泌科',
    nephrology: '肾内科', general_surgery: '普通外科', orthopedics: '骨科', obstetrics_gynecology: '妇产科', pediatrics: '儿科',
    psychiatry: '精神心理科', infectious_diseases: '感染科', oncology: '肿瘤科', emergency: '急诊科', general_practice: '全科医学科',
  },
  en: {
    cardiology: 'Cardiology', respiratory: 'Respiratory medicine', gastroenterology: 'Gastroenterology', neurology: 'Neurology',
    endocrinology: 'Endocrinology', nephrology: 'Nephrology', general_surgery: 'General surgery', orthopedics: 'Orthopaedics',
    obstetrics_gynecology: 'Obstetrics and gynaecology', pediatrics: 'Paediatrics', psychiatry: 'Psychiatry',
    infectious_diseases: 'Infectious diseases', oncology: 'Oncology', emergency: 'Emergency', general_practice: 'General practice',
  },
};

export function departmentName(id: string | null | undefined): string {
  if (!id) return t('noDepartment');
  return departmentNames[currentLang()][id] ?? id;
}

/** Positions approval tiers and break-glass match on (recordings-config/approval.jsonc). */
export const POSITIONS = ['department_head', 'medical_affairs', 'vice_president_medical', 'duty_director'] as const;

const positionNames: Record<Lang, Record<string, string>> = {
  'zh-CN': { department_head: '科室主任', medical_affairs: '医务处', vice_president_medical: '分管副院长', duty_director: '总值班' },
  en: { department_head: 'Head of department', medical_affairs: 'Medical affairs office', vice_president_medical: 'Vice-president (medical)', duty_director: 'Duty director' },
};

export function positionName(id: string): string {
  return positionNames[currentLang()][id] ?? id;
}

/** A role name for a role string from the server (falls back to the string). */
export function anyRoleName(role: string): string {
  return (roleNames[currentLang()] as Record<string, string>)[role] ?? role;
}

const dateTime = (withSeconds: boolean) =>
  new Intl.DateTimeFormat(currentLang(), {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    ...(withSeconds ? { second: '2-digit' } : {}),
    hourCycle: 'h23',
  });

/** A date and time as people here read it (local time, 24-hour clock). */
export function formatDateTime(value: string | Date, withSeconds = false): string {
  return dateTime(withSeconds).format(typeof value === 'string' ? new Date(value) : value);
}

/** A duration in hours, minutes and seconds, in words. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '—';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.round(seconds % 60);
  if (currentLang() === 'en') return [h ? `${h} h` : '', h || m ? `${m} min` : '', `${s} s`].filter(Boolean).join(' ');
  return [h ? `${h} 小时` : '', h || m ? `${m} 分` : '', `${s} 秒`].filter(Boolean).join(' ');
}
