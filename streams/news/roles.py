"""Who moved from where to where: ``from_company`` and ``to_company`` of a talent move.

Auditable rules on the company mentions of the (simplified, normalised) text. Each
mention is read with the words right before and after it:

- a *to* mention is the hiring side: after "joins", "to", "for", 加盟, 加入, 投奔, 跳槽至...,
  or the subject of a hiring verb ("ByteDance hires", "字节挖走");
- a *from* mention is the losing side: after "from", "ex-", "former", "leaves", 前, 原,
  离开, 从..., the subject of "loses" or 流失, or a claimant ("Alibaba sues", 阿里起诉).

A company read as both sides is the hiring one when another is only the losing one
("前腾讯混元负责人回归腾讯，此前在月之暗面任职"); 被X起诉 makes X the claimant; a
departure that names where the person went is a move (the stage reads it as a hire).

A move names at most one company on each side; when one side is found and exactly one
other company is named, that company is the other side. A departure has only a from
side; a reorg is inside one company (from = to).
"""

from __future__ import annotations

import functools
import re

Mention = tuple[int, int, str]  # start, end, canonical company

_W = r"(?<![a-z])"
TO_BEFORE = re.compile(
    _W + r"(?:joins?|joined|joining|to|for|heads? to|moves? to|jumps? to|defects? to|lands? at|signs? with|"
    r"(?:(?:has )?(?:re)?surface[sd]?|turn(?:s|ed)? up|end(?:s|ed)? up|show(?:s|ed)? up|lands?|landed) at|"
    r"sign(?:s|ed)? on (?:at|with)|(?:show|turn|pop)(?:s|ed)? up (?:at|on|in)|outbid by|takes? (?:up )?an?|"
    r"(?:^|[,;:]\s*)now|"
    r"next stop:?|next up:?|picks?|picked|chooses?|chose|"
    r"(?:s?he|they)(?:'s| is|'re| are)(?: now)? at|"
    r"(?:starts?|started|starting|begins?|began)(?: [a-z]+){0,3} at|"
    r"heading to|headed to|bound for|off to|(?:to|will) (?:lead|head|run|join|oversee)|"
    r"(?:lured|poached|hired|recruited|snapped up|nabbed|picked up|taken|wooed|signed)(?: away)? by|"
    r"returns? to|back to|rejoins?|into|(?:job|role|post|position|seat|starting|now|work(?:ing)?) at|"
    r"(?:runs|leads|heads|oversees|manages)(?: [a-z-]+){0,3} at|"
    r"(?:head|chief|director|lead|vp|president|officer)[a-z ]{0,20} at)\s+(?:the\s+|rival\s+|its\s+)?$"
    r"|(?:加盟了?|加入了?|投奔|赴|转投|入职了?|挂帅|执掌|掌舵|坐镇|回流|重回|回到了?|被告(?:是|为|系)|跳槽至|跳槽到|跳槽|回归|出任|履新|任职于|任职|到|至|进入|落户|转战|改投|投身|"
    r"官宣加入|正式加盟|重返了?|去了|奔赴|牵手|被|现身|投效|效力|(?<!华)为|选择了?|选了|落脚|新东家是|新东家为|新东家|"
    r"下一站是?[:：]?|(?:最新|新的?)?(?:去向|岗位|去处)(?:是|为)?[:：]?|(?:将|会|如今|现在|目前|已经|已|现已|转而)[他她]?在)\s*$",
    re.I,
)
FROM_BEFORE = re.compile(
    _W + r"(?:from|ex-|ex|former|formerly of|formerly at|leaves|left|leaving|quits?|exits?|departs?|"
    r"of|away from|out at|out of|parts ways with|walks out of|bolts from|defects from|poached from|lured from|"
    r"exit from|departure from|departs from|trades|bolts|(?:years?|stint|decade|tenure) (?:at|with|on)|"
    r"(?:former|old|previous|ex-) ?(?:employer|company|firm|lab|team)|"
    r"(?:formerly|former|ex-|ex|previously|until recently|most recently|earlier) ?"
    r"(?:(?!now\b|currently\b|today\b)[a-z ,-]){0,30}(?:at|of|with))"
    r"\s*(?:the\s+|rival\s+)?$"
    r"|(?<![a-z])(?:formerly,?|(?:a )?blow to|raids? on|raids?|raided|"
    r"(?:fight|battle|headache|blow|setback|loss) for)\s*$"
    r"|(?:(?:前|老)东家(?:是|为)?|前|原|原为|原是|此前为|此前是|曾为|曾是|曾任|离开|出走|从|告别|辞别|自|来自|离职|挖角|挖走|挖来|挖|揽入|招揽|撬走|"
    r"撬动|抢走|抢|带走|挖到|此前在|此前其在|曾在|曾任职于|(?:此前|曾|之前|早年)(?:供职|任职|就职|效力)于?|"
    r"(?:挖走|挖来|抢走|带走|撬走)了)\s*$",
    re.I,
)
TO_SUBJECT = re.compile(
    r"^\s*'s\s+new\s+(?:[a-z-]+\s+){0,3}?(?:head|chief|lead|director|cto|ceo|coo|cfo|vp|president|scientist|"
    r"officer|boss|engineer|researcher|hire|recruit|signing|addition|arrival)\b|^-bound\b|"
    r"^\s*'s?\s+(?:(?:latest|newest|new|biggest|first|second|third)\s+(?:hire|recruit|signing|addition)|gain)\b"
    r"|^\s*(?:'s\s+)?(?:(?:[a-z-]+\s+)?(?:team|lab|unit|group|division|arm)\s+)?"
    r"(?:just |has |have |quietly |reportedly |officially |now |also )?"
    r"(?:(?:re-?)?hires?|(?:re-?)?hired|poach(?:es|ed)?|taps?|tapped|lures?|lured|nabs?|nabbed|snags?|snagged|signs?|"
    r"signed|names?|named|appoints?|appointed|recruits?|recruited|brings?|brought|picks?|picked|adds?|added|"
    r"welcomes?|woos|wooed|grabs?|grabbed|scoops?|lands?|landed|snaps? up|taps|wins? back|won back|"
    r"reels? in|reeled in|ropes? in|roped in|gains?|gained|gets? (?:a |its )?new|onboarding|raids?|raided)\b"
    r"|^\s*(?:的)?(?:新晋|新任|新聘|新入职的?|新来的|新加盟的|新招的?|新挖来的|新hire)"
    r"|^\s*将.{0,20}?(?:招至麾下|招入麾下|收入麾下|招入|挖走)|^\s*被.{1,12}?(?:起诉|状告|告上)"
    r"|^\s*(?:团队|实验室)?(?:成功|再次|又)?(?:挖到|迎回|招走|挖走|挖来|挖角|挖|揽入|招揽|聘请|聘用|引入|迎来|官宣|任命|拿下|请来|请到|招来|签下|延揽|招募|招入|收编|再挖|又挖|重金|高薪|抢人)",
    re.I,
)
# the claimant of a dispute: the surest from side ("字节起诉前员工，要求其离开MiniMax")
CLAIMANT = re.compile(
    r"^\s*(?:'s\s+)?(?:law)?suit\b|^\s*'s\s+poaching\s+(?:claims?|complaints?)\b|"
    r"^\s*(?:'s\s+)?(?:(?:non-compete|non-solicit|breach(?:-of-contract)?|trade-secrets?|legal|arbitration)\s+)?"
    r"(?:complaints?|claims?|fight|case|letters?|lawyers?)\b|"
    r"^\s*(?:'s\s+)?(?:non-compete|injunction|legal|court) bid\b|"
    r"^\s*(?:(?:corp|inc|ltd|co|group|technology)\.?,?\s+){0,2}v\.?\s|"
    r"^\s*(?:,\s*(?:which|who)\s+(?:had\s+|has\s+)?)?(?:sues?|sued(?! by)|suing|alleges?|alleged|claims?|"
    r"takes? .{0,20}to court|files?|drags?|accuses?|accused|fights?|fought|challenges?|contests?|presses|pressed|"
    r"pursues?|pursued|lodges?|lodged|demands?|demanded|invokes?|invoked|sends? (?:an? )?(?:cease|legal|letter)|"
    r"asks? (?:a )?court|(?:fails?|seeks?|moves?|tries|tried|wants?) to (?:block|bar|stop)|"
    r"wins? (?:an? )?(?:[a-z0-9-]+ ){0,2}(?:injunction|ruling|case|suit|lawsuit|arbitration|order|award)|"
    r"(?:an? )?injunction)\b"
    r"|^\s*(?:起诉|状告|提起|发起仲裁|告|诉讼|索赔|追责|诉(?:其|称)|入禀|申请[\u4e00-\u9fff]{0,4}?(?:仲裁|禁令)|"
    r"提仲裁|致函|发函|去函|发出?律师函|指控|控告)",
    re.I,
)
FROM_SUBJECT = re.compile(
    r"^\s*(?:loses?|lost|losing|sees?|seeks?|'s loss)\b"
    r"|^\s*(?:人才流失|流失|痛失|又失|失去|的?最后一[天周个])"
    # 字节跳动火山引擎一位副总裁离职: the company someone leaves
    r"|^(?:(?!迎|挖|聘|加盟|加入|招|揽|请|将|把)[^，,。；;：:\s]){0,10}?(?:离职|出走|辞职|请辞|卸任)"
    # 华为盘古前负责人: the company's former head
    r"|^(?:(?!迎|挖|聘|加盟|加入|招|揽|请|将|把)[^，,。；;：:\s]){0,8}?前任?[\u4e00-\u9fff]{0,6}"
    r"(?:人|管|员|师|裁|监|者|长|官|骨干|成员|专家)",
    re.I,
)
# "was appointed general manager of Tencent's Yuanbao", "joins as chief scientist of Hunyuan": the new post
NEW_POST = re.compile(
    r"(?<![a-z])(?:appointed|named|named as|made|becomes?|became|as|to be|to become|to run|to lead|to head)\s+"
    r"(?:the\s+)?(?:(?!former\b|ex-|previously\b)[a-z -]){0,30}(?:of|at)\s*$"
    r"|(?<![a-z])(?:takes?|took|taking|at)\s+(?:the\s+)?helm\s+(?:of|at)\s*$",
    re.I,
)
# a leaving verb: a surer from side than an adjective ("Ex-DeepMind scientist quits Tencent for...")
LEFT_BEFORE = re.compile(
    _W + r"(?:leaves|left|leaving|quits?|quit|exits?|departs?(?: from)?|away from|out at|parts ways with|walks out of|"
    r"bolts from|defects from|exit from|departure from|"
    r"(?:most recently|until recently|until now|last) (?:ran|led|headed|managed|oversaw|worked (?:at|for)|was at|at)|"
    r"(?:most recently|until recently|lately),?|"
    r"until (?:[a-z]+ )?(?:\d{4}|january|february|march|april|may|june|july|august|september|october|november|"
    r"december|last [a-z]+)(?: at| with)?|(?:alum|alumnus|alumna|veteran|engineer|researcher) turned|"
    r"(?:last|most recent|latest) (?:job|role|post|employer|stop) (?:was )?(?:at|with)|last day (?:at|on|with|in)|"
    r"(?:the )?(?:last|past) [a-z0-9 ]{0,12}(?:years?|months?) (?:at|with)|"
    r"(?:before|then) (?:an? |[a-z]+ )?(?:[a-z-]+ )?(?:stint|spell|stop|run) (?:at|with)|"
    r"(?:heads?|headed|heading) for the (?:door|exit) at|exit(?:s|ed)? at)"
    r"\s*(?:the\s+|rival\s+)?$"
    r"|(?:离开|出走|告别|辞别|辞去|离职|(?:近|最近|过去)[一二两三四五六七八九十\d]+年(?:来)?[他她]?(?:在|主导|负责|任职于?)?|"
    r"(?:后|随后|之后)[他她]?在|结束|最近(?:任职|就职|供职|在)于?)\s*$",
    re.I,
)
# the same, over a longer window: "until recently head of inference at", "previously ran the ... for"
LEFT_LONG = re.compile(
    _W + r"(?:(?:most recently|until recently|lately),?(?: [a-z-]+){0,4} at|"
    r"(?:previously|most recently|until recently) (?:ran|led|headed|managed|oversaw|built|worked on)[a-z0-9 -]{0,40} "
    r"(?:at|for|with)|(?:who|which|that) (?:ran|runs|led|leads|headed|heads|built|managed|manages|oversaw|oversees)"
    r"(?:(?! (?:leaves|left|quits|joins|joined|exits|for|at) )[a-z0-9 -]){0,40} (?:at|for))\s*(?:the\s+|rival\s+)?$",
    re.I,
)
WINDOW = 24
AFTER = 32  # "'s Gemini Code Assist product lead"
# a company that is neither side: a rival suitor ("beating out an offer from Alibaba")
BYSTANDER = re.compile(_W + r"(?:offers?|bids?|interest|approach(?:es)?|counter-?offers?) from\s*$", re.I)
# ... and one named after its mention: a rival, an investor, a bidder that lost out
BYSTANDER_AFTER = re.compile(
    r"^\s*(?:的|'s)\s*(?:老|主要|最大的?|头号|old |main |chief |biggest |arch-?)?"
    r"(?:对手|竞争对手|rivals?|competitors?)|"
    r"^\s*(?:投资|控股|参股|入股|孵化)的|^\s*-?(?:backed|funded|owned)\b|"
    r"^\s*(?:抢人|挖人|争抢)?(?:落败|失利|未果)|^[^，,。]{0,10}?(?:都|也|均|曾)[^，,。]{0,4}?(?:给了?|发了?|发出了?|开出了?)"
    r"(?:他|她|其)?(?:offer|邀约|橄榄枝)|^\s*(?:(?:was|is|gets|got) )?outbid\b|^\s*los(?:es|t) out\b",
    re.I,
)
# 在零一万物短暂任职后加盟腾讯, 在字节Seed做了两年…的: a stint that is over
STINT = re.compile(r"^[^，。,、]{0,8}?(?:短暂|工作|任职|就职|效力|做了|干了|待了){1,2}[^，。,]{0,6}(?:后|的)")
ONCE_AFTER = re.compile(r"^[^，。,、]{0,10}?出身")  # 谷歌DeepMind出身: where a career began
ACCEPTED = re.compile(_W + r"accept(?:s|ed|ing)? (?:an? |the |its )?offers? from\s*$", re.I)
ARROW_BEFORE = re.compile(r"(?:→|->|➝|➡|⟶|=>)\s*$")
ARROW_AFTER = re.compile(r"^\s*\)?\s*(?:→|->|➝|➡|⟶|=>)")


# "hit with a suit by Zhipu", "lawsuit from Meta": the claimant named after its claim
CLAIMANT_BEFORE = re.compile(
    r"原告(?:是|为|系)\s*$|(?:赔偿|赔付)\s*$|"
    + _W
    + r"(?:(?:law)?suits?|claims?|complaints?|actions?|arbitration|injunction|cease-and-desist(?: letter)?|"
    r"threat|challenge|case)"
    r"(?: bid| request| application| motion)?(?: filed)? (?:by|from)\s*$"
    r"|(?<![a-z])(?:pay|pays|paid|owes?|owed|compensates?|reimburses?)\s*$"
    r"|(?<![a-z])(?:sued|challenged|taken to court) by\s*$",
    re.I,
)
# an employer of long ago: a weak from side, like a role's company ("早年曾在微软实习", "Xiaomi's
# AI boss Daniel Ko, a former Huawei engineer")
EARLIER = re.compile(
    r"[,，]\s*(?:a|an)\s+(?:former|ex-|one-?time|onetime|(?:[a-z-]+\s+){0,3}(?:veteran|alum|alumnus) (?:from|of))\s*$|"
    r"(?:早年|早期|最早|多年前|当年|起初)[其他她]?曾?(?:在|于|任职于?|供职于?|就职于?|效力于?)\s*$"
    r"|曾(?:带队|负责|主导|参与|领导)[\u4e00-\u9fff]{0,4}$"
    r"|(?<![a-z])(?:early in (?:his|her|their) career|years ago|long ago|originally|once) (?:at|with)\s*$"
    r"|(?:^|[.;:,]\s*)once (?:an? |the )?\s*$",
    re.I,
)
JOINED_THEN = re.compile(r"(?:去年|前年|今年初|年初|此前|早前|后来|\d+年)(?:加入|加盟|跳槽至?|转投|入职)$")
# "Ex-Tencent, ex-Alibaba": the last of a list of former employers is the latest
EX_LISTED = re.compile(r"^\s*(?:,|and|/|&)\s*(?:ex-|former\s)", re.I)
EX_BEFORE = re.compile(r"(?<![a-z])(?:ex-|former\s)\s*$", re.I)
LISTED = re.compile(r"^[^，,。；;：:\s]{0,12}、")  # 前微软成员、DeepSeek研究员: the first of a list is older
LEFT_AFTER = re.compile(
    r"^[^，。,]{0,8}?(?:离职|辞职|出走|离开|加盟|加入|跳槽|转投|回流|回归|转战|投奔)"
)  # 从Meta离职后加盟腾讯: the company left
# the defendant of a dispute, the company joined ("Xiaomi ordered to pay Huawei", 判令阶跃星辰赔偿, 零一万物遭…索赔)
DEFENDANT = re.compile(
    r"^\s*(?:(?:is|was) )?(?:ordered to pay|countersues?|counter-?sued|hit with|accused of|agrees? (?:an? )?"
    r"(?:undisclosed )?payment|(?:pays?|paid)(?: [a-z$¥0-9.,]+){0,3} to settle|"
    r"owes?|owed|must (?:pay|face|turn over|hand over|return|stop)|(?:agrees?|agreed) to pay|"
    r"defeats?|defeated|fends? off|"
    r"(?:is |was )?(?:added|named|joined) as (?:a )?(?:co-?)?defendant|"
    r"(?:faces?|facing|draws?|drew)(?: an?| the)?(?: [a-z-]+){0,3}? (?:claims?|complaints?|(?:law)?suits?|"
    r"legal|injunction|arbitration|challenge|threat|cease-and-desist)|files? (?:an? )?counter-?(?:suit|claim)|"
    r"(?:(?:is|gets?|got) )?(?:caught up|drawn|dragged|embroiled) in(?:to)?|drawn in|targeted by|under fire|"
    r"(?:denies|denied|rejects|rejected)(?: [a-z'-]+){0,3}? (?:claims?|allegations?|charges?|accusations?))"
    r"|^\s*(?:遭|被判(?!向前)|被裁定|被责令|被列为(?:共同)?被告|被诉|成为?被告|(?:提起|发起)?反诉|(?:团队|实验室)?(?:再陷|陷入|卷入|深陷|又陷|惹上|回应))",
    re.I,
)
BLAMED = re.compile(r"^\s*(?:追责|索赔|发难|索要|讨说法|提起|发起|发出?律师函|致函|发函)")  # 向阿里追责: the defendant
_HIRED = r"(?:挖来|挖走|招来|请来|引进)的"
HIRED_BEFORE = re.compile(r"^\s*" + _HIRED)  # 从谷歌挖来的: an employer of long ago
HIRED_FROM = re.compile(r"^\s*从[^，。,]{1,12}?" + _HIRED)  # 被字节从谷歌挖来的: the company left now
PAID_TO = re.compile(r"^\s*(?:赔偿|支付|赔付|道歉)")  # 向腾讯赔偿: the claimant
SUED_BY = re.compile(
    r"^\s*(?:起诉|状告|告上|诉至|申请[\u4e00-\u9fff]{0,4}?(?:仲裁|禁令)|索赔|追责|提起|指控|控告)"
)  # 快手被腾讯起诉: 腾讯 is the claimant


# "01.AI co-founder Fang Jiahui resurfaces at...": the company of a person's role, a weak from side
# (it gives way to a surer one: "DeepSeek researcher faces claim from former employer SenseTime")
ROLE_OF_ZH = re.compile(
    r"^\s*的?(?:(?![请来聘挖加将把从到拿下任迎招揽入离因就与和对向被])[\u4e00-\u9fffA-Za-z]){0,4}?(?:研究员|工程师|科学家|负责人|总监|副总裁|总裁|高管|架构师|产品经理|总经理|主任|骨干|"
    r"成员|员工|老将|元老|首席|cto|ceo|coo)"
)
ROLE_OF = re.compile(
    r"^\s*(?:'s\s+)?(?!new\b|incoming\b|next\b)(?:(?!(?:in|at|to|for|from|of|by|with|and|as|its|the|over)\b)[a-z-]+\s+){0,4}?"
    r"(?:alum|alumnus|alumna|veteran|old hand|"
    r"co-?founder|founder|researcher|engineer|scientist|architect|executive|exec|vp|vice president|director|"
    r"manager|lead|head|designer|chief|boss)\b",
    re.I,
)
NOUN_BEFORE = re.compile(r"(?<![a-z])(?:over|of|about|on|with|amid|after)\s*$", re.I)  # "row over Qwen hires"
PAST_AT = re.compile(
    r"(?:曾|此前|之前|早年|以前|先前|(?:近|过去)[一二两三四五六七八九十\d]+年来?|、(?:后|之后|随后))[其他她]?在$"
)  # 曾在X任职: not where they are now
PARTY_AFTER = re.compile(r"^\s*(?:之间)?的?(?:竞业|劳动)?(?:仲裁|纠纷|官司|诉讼|争议)")  # 此前与百度的竞业仲裁
IN_PHRASE = re.compile(r"(?<![a-z])(?:from|of)\s*$", re.I)  # "new hire from Alibaba hit with": not the subject
FOR_ROLE = re.compile(r"(?<![a-z])for\s*$", re.I)
WORKS_AT = re.compile(
    r"^\s*(?:任职|就职|工作|上班|担任|出任|负责|任|报到|入职|履新)"
)  # (现已)在X任职: where they are now


@functools.lru_cache(maxsize=256)  # side_tags and move read the same mentions
def _side(s: str, start: int, end: int) -> str | None:
    before = s[max(0, start - WINDOW) : start].rstrip('“「『《"')  # quotes do not change a side
    after = s[end : end + AFTER].lstrip('”」』》"')
    if before.endswith(("被", "遭")) and SUED_BY.match(after):
        return "from"
    past = PAST_AT.search(before) is not None
    if before.endswith("在") and not past and WORKS_AT.match(after):
        return "to"
    if before.endswith("被") and HIRED_FROM.match(after):
        return "left"  # 两年前被字节从谷歌挖来的: hired then, left now
    if before.endswith("从") and HIRED_BEFORE.match(after):
        return "once"
    if CLAIMANT_BEFORE.search(before) or (before.endswith("向") and PAID_TO.match(after)):
        return "sues"
    if (DEFENDANT.match(after) and not IN_PHRASE.search(before)) or (
        before.endswith("判令") or (before.endswith("向") and BLAMED.match(after))
    ):
        return "to"
    if before.endswith(("与", "和", "同")) and PARTY_AFTER.match(after):
        return "left"
    if JOINED_THEN.search(before) and after.startswith("的"):
        return "left"
    if (
        EARLIER.search(before)
        or (EX_LISTED.match(after) and EX_BEFORE.search(before))
        or (before.endswith(("前", "原")) and LISTED.match(after))
        or ONCE_AFTER.match(after)
    ):
        return "once"
    if (before.endswith("从") and LEFT_AFTER.match(after)) or (
        before.endswith("在") and not past and STINT.match(after)
    ):
        return "left"
    wide = s[max(0, start - 2 * WINDOW) : start]
    if NEW_POST.search(wide):
        return "to"
    if ACCEPTED.search(before):
        return "to"
    if BYSTANDER.search(before) or BYSTANDER_AFTER.match(after):
        return "aside"
    if LEFT_BEFORE.search(before) or LEFT_LONG.search(wide):
        return "left"
    if FOR_ROLE.search(before) and (m := ROLE_OF.match(after)) and "\n" not in m.group() and after[:1] != "'":
        return "was"  # "garden leave for DeepMind researcher headed to Meta"
    if ARROW_BEFORE.search(before):  # A → B → C: B is the company left, C the one joined
        return "left" if ARROW_AFTER.match(after) else "to"
    if ARROW_AFTER.match(after):
        return "from"
    if FROM_BEFORE.search(before):
        return "from"
    if TO_BEFORE.search(before):
        return "to"
    if TO_SUBJECT.match(after) and not NOUN_BEFORE.search(before):
        return "to"
    if CLAIMANT.match(after):
        return "sues"
    if FROM_SUBJECT.match(after):
        return "from"
    if ROLE_OF.match(after) or ROLE_OF_ZH.match(after):
        return "was"
    return None


def side_tags(s: str, mentions: list[Mention]) -> list[str]:
    """The sides the company mentions are read as ("to", "from", "left", "was"...), and
    "move" when one company is a to side and another a from side: features for the model
    (a departure that names an older employer has a from side but no to side)."""
    found: dict[str, set[str]] = {}
    for start, end, company in mentions:
        side = _side(s, start, end)
        if side:
            found.setdefault(side, set()).add(company)
    tags = sorted(found)
    froms = found.get("from", set()) | found.get("left", set()) | found.get("sues", set())
    to = found.get("to", set())
    if to - froms and froms - to:
        tags.append("move")
    return tags


def move(s: str, kind: str, mentions: list[Mention], title_end: int) -> tuple[str | None, str | None]:
    """(from_company, to_company) as the title tells them; a side the title leaves open
    is filled from the whole text ("小米大模型团队再添一员" + a summary naming the old employer)."""
    in_title = [m for m in mentions if m[1] <= title_end]
    src, dst = direction(s, kind, in_title or mentions)
    if len({c for *_, c in in_title}) == 1 and kind in TALENT_KINDS and len(in_title) < len(mentions):
        full = direction(s, kind, mentions)  # one company in the title: the summary tells the other side
        if None not in full and in_title[0][2] in full:
            sides = {_side(s, a, b) for a, b, _ in in_title} - {None}
            if (sides == {"to"} and full[0] == in_title[0][2]) or (sides == {"left"} and full[1] == in_title[0][2]):
                return full[1], full[0]  # the title's own side wins ("他又回到了百度" + a summary of the way there)
            return full
    if (src is None or dst is None) and len(in_title) < len(mentions) and in_title and kind in TALENT_KINDS:
        full_src, full_dst = direction(s, kind, mentions)
        if src is None and full_src not in (None, dst):
            src = full_src
        if dst is None and full_dst not in (None, src) and kind != "departure":
            dst = full_dst
    return src, dst


TALENT_KINDS = ("hire", "departure", "dispute")


def direction(s: str, kind: str, mentions: list[Mention]) -> tuple[str | None, str | None]:
    """(from_company, to_company) for an item of type ``kind``."""
    order = list(dict.fromkeys(c for _, _, c in sorted(mentions)))
    if not order:
        return None, None
    if kind == "reorg":
        return order[0], order[0]
    if kind not in TALENT_KINDS:
        return None, None
    if kind == "dispute" and len(order) == 1:  # a claim over a move, or a former employer's claim
        return order[0], None
    sides: dict[str, set[str]] = {}
    left: set[str] = set()
    sues: set[str] = set()
    was: list[str] = []
    once: list[str] = []
    aside: set[str] = set()
    for start, end, company in sorted(mentions):
        side = _side(s, start, end)
        if side in ("was", "once"):
            (was if side == "was" else once).append(company)
            continue
        if side == "aside":
            aside.add(company)
            continue
        if side in ("left", "sues"):
            (sues if side == "sues" else left).add(company)
            side = "from"
        if side:
            sides.setdefault(company, set()).add(side)
    if not any(v == {"from"} for v in sides.values()):
        for company in [c for c in was + once if c not in sides][:1]:
            sides[company] = {"from"}
    only_from = [c for c in order if sides.get(c) == {"from"}]
    only_from.sort(key=lambda c: (c not in sues, c not in left))  # stable: a claimant, then a company left
    # a company read as both sides is the hiring one when another is only a losing one
    # ("前腾讯混元负责人回归腾讯，此前在月之暗面任职")
    froms = [c for c in order if c in sues] + only_from or [c for c in order if "from" in sides.get(c, ())]
    froms = list(dict.fromkeys(froms))
    tos = [c for c in order if "to" in sides.get(c, ()) and c not in froms[:1]]
    if kind == "departure":  # a departure that names where to is a move (the caller makes it a hire)
        src = (froms or order)[0]
        return src, next((c for c in tos if c != src), None)
    src, dst = (froms[:1] or [None])[0], (tos[:1] or [None])[0]
    rest = [c for c in order if c not in (src, dst) and c not in aside]
    if src is None and dst is not None and rest:
        src = rest[0]
    elif dst is None and src is not None and rest:
        dst = rest[0]
    elif src is None and dst is None:
        if kind == "hire" and len(order) == 1:
            dst = order[0]
        elif len(order) >= 2 and kind == "dispute":
            src, dst = order[0], order[1]  # "X vs Y", "X与Y...对簿公堂": the claimant first
        elif len(order) >= 2:
            src, dst = order[1], order[0]  # "X hires Y's ..." is the commonest unmarked order
    return src, dst


ROLES_ZH = {
    "技术负责人": "technical lead", "负责人": "head", "工程师": "engineer", "研究员": "researcher",
    "科学家": "scientist", "首席科学家": "chief scientist", "高管": "executive", "副总裁": "vice president",
    "总裁": "president", "创始人": "founder", "联合创始人": "co-founder", "董事长": "chairman",
    "总经理": "general manager", "总监": "director", "合伙人": "partner", "技术骨干": "technical lead",
    "核心成员": "core member", "首席技术官": "CTO", "首席执行官": "CEO", "算法专家": "algorithm expert",
    "研究科学家": "research scientist", "产品负责人": "head of product", "ceo": "CEO", "cto": "CTO",
    "coo": "COO", "cfo": "CFO",
}  # fmt: skip
ROLES_EN = {"tech lead": "technical lead", "vp": "vice president", "exec": "executive", "cofounder": "co-founder"}


def role_name(word: str) -> str:
    """A role word of the text as a short English role: 技术负责人 -> "technical lead"."""
    w = word.strip().lower()
    return ROLES_ZH.get(w) or ROLES_EN.get(w) or w
